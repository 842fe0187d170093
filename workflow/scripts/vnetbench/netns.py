"""Commands that build the embedded testbed: `ip` in a namespace, a veth between two, a
command run inside one; and the pieces every path is made of: a machine (its address on a
bridge that holds its wire), an end bridged or routed by its machine. Every failure is a
TestbedError carrying the command, exit code and output. Addresses are /24s."""

import subprocess

from .errors import VnetbenchError


class TestbedError(VnetbenchError):
    """A testbed command failed; carries the command, exit code and output."""


def run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    stdin = None if input is not None else subprocess.DEVNULL
    done = subprocess.run(argv, capture_output=True, text=True, stdin=stdin, input=input)
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


def machine(ns: str, address: str, mac: str, link_rate: str | None) -> None:
    """A machine: it forwards, and its address is on a bridge (br0, of a fixed MAC) that holds
    its end of the wire, rate-limited to `link_rate` if one is given."""
    inside(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    ip_in(ns, "link", "add", "br0", "address", mac, "type", "bridge")
    ip_in(ns, "link", "set", "wire", "master", "br0", "up")
    ip_in(ns, "addr", "add", f"{address}/24", "dev", "br0")
    ip_in(ns, "link", "set", "br0", "up")
    if link_rate:
        inside(ns, "tc", "qdisc", "replace", "dev", "wire", "root", "tbf", "rate", link_rate,
               "burst", "64kb", "latency", "50ms")  # fmt: skip


def bridged_end(ns: str, device: str, bridge: str, end: str, address: str, mtu=None, via=None) -> None:
    """An end (namespace `end`) on a veth whose machine side, `device`, is a port of `bridge`;
    its default route via `via`, if given."""
    veth(ns, device, end, "eth0", mtu=mtu)
    ip_in(ns, "link", "set", device, "master", bridge, "up")
    address_end(end, address, via)


def routed_end(ns: str, device: str, gateway: str, end: str, address: str, mtu=None) -> None:
    """An end on a veth routed by its machine, whose side of it, `device`, holds `gateway`."""
    veth(ns, device, end, "eth0", mtu=mtu)
    ip_in(ns, "addr", "add", f"{gateway}/24", "dev", device)
    ip_in(ns, "link", "set", device, "up")
    address_end(end, address, gateway)


def address_end(end: str, address: str, via: str | None = None) -> None:
    """The end's eth0 up with its address, and its default route via `via`, if given."""
    ip_in(end, "addr", "add", f"{address}/24", "dev", "eth0")
    ip_in(end, "link", "set", "eth0", "up")
    if via:
        ip_in(end, "route", "add", "default", "via", via)
