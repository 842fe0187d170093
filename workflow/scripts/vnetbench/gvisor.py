"""The gvisor platform: a gVisor sandbox on each machine, routed by it as a container is.

    machine A (ns a)                                   machine B (ns b)
    br0 198.18.0.1 [wire] ========== wire ========== br0 198.18.0.2 [wire]
    vs 198.18.17.1 (routed)                          vs 198.18.18.1 (routed)
       | veth                                           | veth
    ns sa: runsc sandbox, netstack owns eth0 and     ns sb: the same, 198.18.18.2
    mgmt0; eth0 198.18.17.2; its own sshd

What GKE Sandbox users run: the workload's system calls are served by gVisor's Sentry, and its
sockets by netstack, gVisor's network stack in user space, which reads and writes the namespace's
devices through packet sockets (`--network=sandbox`, runsc's default). The host's kernel sees
Ethernet frames, not sockets. The sandbox's namespace holds its data veth (routed by the machine,
as the openvz platform's container is) and its management veth; netstack takes both over, and
the sandbox runs its own sshd (the host's sshd, netperf and netserver: the root is the host's
`/`, read-only, with tmpfs on /tmp and /run, as the uml guests'), so cells reach it as any host.

runsc builds up to 2023 take a namespace where /proc/sys/net/core/rmem_default exists for the
root namespace and refuse to start (on kernels where every namespace has that file). Where the
installed runsc refuses so, it is started again with a tmpfs over /proc/sys/net/core in the
private mount namespace `ip netns exec` gives it; provenance says which start it took.

A sandbox is two processes: runsc-sandbox (in the node's namespace, stopped with it by pid) and
runsc-gofer (its file server, in a namespace of its own; it exits with the sandbox, and `down`
stops it by pid if it did not). Netstack removes the addresses from the devices it takes: a
sandbox starts once per testbed, on freshly built devices.
"""

import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from .netns import TestbedError, run
from .sshd import answers_ssh

VETH = "vs"  # the machine's side of a sandbox's veth
MISSING = "gVisor is missing: install runsc (scripts/setup.sh --all does)"
BOOT_TIMEOUT = 30.0  # seconds to the sandbox's sshd; about 0.3 s here
_ROOT_NAMESPACE_REFUSAL = "cannot run with network enabled in root network namespace"
# A container's capabilities (Docker's default set): what sshd and netserver need, no more.
CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip


def runsc() -> str | None:
    return shutil.which("runsc")


def missing() -> str | None:
    """What this machine lacks to start a sandbox, in one line; None if nothing."""
    return MISSING if runsc() is None else None


def _directory(testbed) -> Path:
    return testbed.state_dir / "gvisor"


def _runsc_root(testbed) -> Path:
    return _directory(testbed) / "runsc"  # runsc's own state; stale state refuses a new start


def container_id(testbed, node: str) -> str:
    return f"{testbed.prefix}-{node}"


def boot(testbed, nodes: list[str], log=print) -> dict[str, dict]:
    """Start a sandbox for each of `nodes`; {node: {"pid", "gofer_pid", "boot_s", "start"}} once
    every sandbox's sshd answers. One that does not start raises TestbedError with runsc's words."""
    problem = missing()
    if problem:
        raise TestbedError(problem)
    shutil.rmtree(_runsc_root(testbed), ignore_errors=True)
    sandboxes = {}
    for node in nodes:
        began = time.monotonic()
        start = _start(testbed, node)
        _wait_sshd(testbed, node)
        pid, gofer = _pids(testbed, node)
        sandboxes[node] = {"pid": pid, "gofer_pid": gofer, "boot_s": round(time.monotonic() - began, 2),
                           "start": start}  # fmt: skip
        log(f"gVisor sandbox {node} up in {sandboxes[node]['boot_s']} s (pid {pid})")
    return sandboxes


def bundle(testbed, node: str) -> dict:
    """The sandbox's OCI spec: the host's / read-only, the sshd of the node as its process, the
    node's network namespace as its network."""
    server, state = testbed.sshd(node), str(testbed.state_dir.resolve())
    config = str(server.config_file.resolve())
    for path in (state, config):
        if any(c.isspace() or c in "'\"\\" for c in path):
            raise TestbedError(f"the gvisor platform cannot start from this path (quotes, spaces): {path}")
    return {
        "ociVersion": "1.0.2",
        "hostname": node,
        "root": {"path": "/", "readonly": True},
        "process": {
            "user": {"uid": 0, "gid": 0},
            "cwd": "/",
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            # sshd's privilege separation directory, on the tmpfs /run.
            "args": ["/bin/sh", "-c", f"mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -f {config}"],
            "capabilities": {kind: CAPABILITIES for kind in ("bounding", "effective", "permitted")},
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs"},
            # The testbed's state (the sshd's config and keys) again, wherever a tmpfs hid it.
            {"destination": state, "type": "bind", "source": state, "options": ["rbind", "ro"]},
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "network", "path": f"/run/netns/{testbed.netns(node)}"},
            ],  # fmt: skip
        },
    }


def _start(testbed, node: str) -> str:
    """Start the sandbox detached; which start it took (plain, or with the tmpfs workaround)."""
    directory = _directory(testbed) / node
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(bundle(testbed, node), indent=1))
    name = container_id(testbed, node)
    argv = [*runsc_command(testbed), "run", "--bundle", str(directory), "--detach", name]
    hidden = ["sh", "-c", 'mount -t tmpfs none /proc/sys/net/core && exec "$@"', "sh", *argv]
    attempts = (("plain", argv), ("tmpfs over /proc/sys/net/core", hidden))
    for how, command in attempts:
        with open(directory / "console.log", "ab") as console:
            done = subprocess.run(
                ["ip", "netns", "exec", testbed.netns(node), *command],
                stdin=subprocess.DEVNULL, stdout=console, stderr=console, timeout=BOOT_TIMEOUT,
            )  # fmt: skip
        said = (directory / "console.log").read_text(errors="replace")
        if done.returncode == 0:
            return how
        if _ROOT_NAMESPACE_REFUSAL not in said:
            break
    tail = "\n".join(said.splitlines()[-15:])
    raise TestbedError(
        f"the gVisor sandbox {node} did not start (exit {done.returncode})\n"
        f"  command: {' '.join(command)}\n  output (last lines):\n{tail}"
    )


def runsc_command(testbed) -> list[str]:
    return [runsc(), "--root", str(_runsc_root(testbed)), "--network=sandbox", "--ignore-cgroups"]


def _pids(testbed, node: str) -> tuple[int, int | None]:
    """The sandbox's pid (runsc state, asked in its namespace: its control socket is there) and
    its gofer's (from runsc's own state file, where this runsc keeps it)."""
    shown = run("ip", "netns", "exec", testbed.netns(node), *runsc_command(testbed), "state",
                container_id(testbed, node))  # fmt: skip
    pid = json.loads(shown.stdout)["pid"]
    gofer = None
    for state in _runsc_root(testbed).glob(f"*{container_id(testbed, node)}*.state"):
        with contextlib.suppress(OSError, ValueError):
            gofer = json.loads(state.read_text()).get("goferPid")
    return pid, gofer


def _wait_sshd(testbed, node: str) -> None:
    deadline, address = time.monotonic() + BOOT_TIMEOUT, testbed.mgmt_address(node)
    while True:
        if answers_ssh(address, 22):
            return
        if time.monotonic() > deadline:
            console = (_directory(testbed) / node / "console.log").read_text(errors="replace")
            raise TestbedError(
                f"the gVisor sandbox {node} did not answer SSH at {address} in {BOOT_TIMEOUT:g} s\n"
                f"  output:\n{console.strip()[-2000:]}"
            )
        time.sleep(0.05)


def alive(pid: int) -> bool:
    return _command_line(pid).startswith("runsc-sandbox")


def _command_line(pid: int | None) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, TypeError):
        return ""


def outliving_gofers(testbed, sandboxes: dict) -> list[int]:
    """The gofers of `sandboxes` (state.json's) that still run: they live outside the testbed's
    namespaces, and end with their sandbox, but `down` stops them by pid if they did not."""
    found = []
    for sandbox in sandboxes.values():
        gofer = _command_line(sandbox.get("gofer_pid"))
        if gofer.startswith("runsc-gofer") and str(_runsc_root(testbed)) in gofer:
            found.append(sandbox["gofer_pid"])
    return found


def forget(testbed) -> None:
    """Forget runsc's state of stopped sandboxes (a stale one refuses the next start)."""
    shutil.rmtree(_runsc_root(testbed), ignore_errors=True)


def describe(testbed, nodes: list[str]) -> dict:
    """For provenance: runsc's version and platform, how the sandboxes started, their boot times."""
    state = json.loads((testbed.state_dir / "state.json").read_text()).get("gvisor", {})
    path = runsc()
    version = run(path, "--version", check=False).stdout.splitlines()[:1] if path else []
    flags = run(path, "flags", check=False) if path else None
    return {
        "runsc": path,
        "runsc_version": version[0] if version else None,
        "platform": _default_of(flags.stdout + flags.stderr, "platform") if flags else None,
        "network": "sandbox (netstack, gVisor's network stack in user space, on the namespace's veths)",
        "root": "the host's / read-only; tmpfs on /tmp and /run",
        "capabilities": CAPABILITIES,
        "sandboxes": {node: state.get(node) for node in nodes},
    }


def _default_of(flags: str, name: str) -> str | None:
    """A flag's default from `runsc flags` ("-platform string ... (default "ptrace")")."""
    lines = flags.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(f"-{name} "):
            for text in lines[i + 1 : i + 3]:
                if '(default "' in text:
                    return text.split('(default "', 1)[1].split('"', 1)[0]
    return None
