"""Commands that build the embedded testbed: `ip` in a namespace, a veth between two, a
command run inside one. Every failure is a TestbedError carrying the command, exit code and
output."""

import subprocess

from .errors import VnetbenchError


class TestbedError(VnetbenchError):
    """A testbed command failed; carries the command, exit code and output."""


def run(*argv: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    if check and done.returncode != 0:
        output = (done.stdout + done.stderr).rstrip()
        raise TestbedError(f"testbed command failed (exit {done.returncode}): {' '.join(argv)}\n{output}")
    return done


def ip_in(netns: str | None, *args: str) -> None:
    run("ip", *(["-n", netns] if netns else []), *args)


def inside(netns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", "netns", "exec", netns, *argv, check=check)


def veth(netns: str, name: str, peer_netns: str, peer_name: str, mtu: int | None = None) -> None:
    mtu_args = ["mtu", str(mtu)] if mtu else []
    run("ip", "link", "add", name, "netns", netns, *mtu_args, "type", "veth",
        "peer", "name", peer_name, "netns", peer_netns, *mtu_args)  # fmt: skip


def link_exists(name: str, netns: str | None = None) -> bool:
    return run("ip", *(["-n", netns] if netns else []), "link", "show", name, check=False).returncode == 0
