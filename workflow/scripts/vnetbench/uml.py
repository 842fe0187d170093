"""The uml platform: a guest with its own kernel behind each machine's bridge (User-mode Linux).

    machine A (ns a)                                    machine B (ns b)
    br0 [wire, vg, ut-ua] =========== wire ========== br0 [wire, vg, ut-ub]
          | tap: the guest's vif                           | tap
    linux.uml: guest ua, vec0 198.18.0.51           linux.uml: guest ub, vec0 198.18.0.52
          | vec1: a tap moved into the management namespace's bridge; the guest's sshd there

Why it stands for the paper's Xen: Xen PV is Linux paravirtualized onto a hypervisor, UML is
Linux paravirtualized onto Linux. Either way a packet crosses the guest's own kernel (its TCP/IP
stack, its scheduler, its system calls), a front-end device (netfront; UML's vector driver), a
back end in the host (netback's vif; a tap) and the host's bridge. UML needs no KVM and runs at
the host CPU's speed; its price is that each guest system call and page fault is a ptrace stop
of the host, as a PV guest's were hypercalls.

The guest's root filesystem is the host's `/` over hostfs, read-only, with tmpfs on /tmp and
/run: the guest runs the host's own netperf, netserver and sshd, the same builds as every other
platform, and there is nothing to build, download or keep in step. Each guest runs its own sshd
(its config and keys in the testbed's state directory, which the guest reads through hostfs),
so cells reach it as any host. Guests boot with the testbed and stop with their machine's
namespace (every process in it is stopped by pid).

The host's extended FPU state (AVX-512, AMX) is more than UML 6.1 can move: the guests run under
noxstate.py, which makes UML keep to the FXSAVE area, and their programs keep to x87 and SSE
(GUEST_ENVIRONMENT), whose registers that area holds.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import lab
from .netns import TestbedError, ip_in, run
from .sshd import answers_ssh

MEMORY = "256M"
BOOT_TIMEOUT = 60.0  # seconds to the guest's sshd; about 1.5 s here
NOXSTATE = Path(__file__).with_name("noxstate.py")
# glibc without its AVX routines, OpenSSL without AVX and everything of CPUID leaf 7: only
# registers of the FXSAVE area, which the guest kernel saves across page faults and switches.
GUEST_ENVIRONMENT = {
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX2,-AVX,"
    "-AVX_Fast_Unaligned_Load",
    "OPENSSL_ia32cap": "~0x1000000000000000:0",
}
MISSING = "User-mode Linux is missing: install user-mode-linux (scripts/setup.sh --all does)"


def kernel() -> str | None:
    """The UML kernel (Debian's user-mode-linux installs it as linux.uml), if installed."""
    return shutil.which("linux.uml") or shutil.which("linux", path="/usr/bin")


def missing() -> str | None:
    """What this machine lacks to boot a guest, in one line; None if nothing."""
    if kernel() is None:
        return MISSING
    if not Path("/dev/net/tun").exists():
        return "the uml platform needs tap devices, and /dev/net/tun is missing (modprobe tun)"
    return None


def _taps(node: str) -> tuple[str, str]:
    return f"ut-{node}", f"um-{node}"  # data (on the machine's bridge), management


def _directory(testbed, node: str) -> Path:
    return testbed.state_dir / "uml" / node


def boot(testbed, nodes: list[str], log=print) -> dict[str, dict]:
    """Boot a guest for each of `nodes`, all at once; {node: {"pid", "boot_s"}} once every
    guest's sshd answers. A guest that does not come up raises TestbedError with its console."""
    problem = missing()
    if problem:
        raise TestbedError(problem)
    launched = {node: _launch(testbed, node) for node in nodes}
    guests = {}
    for node, (process, began) in launched.items():
        _plug_management(testbed, node, process)
        _wait_sshd(testbed, node, process)
        guests[node] = {"pid": process.pid, "boot_s": round(time.monotonic() - began, 2)}
        log(f"User-mode Linux guest {node} up in {guests[node]['boot_s']} s (pid {process.pid})")
    return guests


def _launch(testbed, node: str) -> tuple[subprocess.Popen, float]:
    machine_ns = testbed.netns(lab.NODE[node].machine)
    data_tap, mgmt_tap = _taps(node)
    for tap in (data_tap, mgmt_tap):
        ip_in(machine_ns, "tuntap", "add", "dev", tap, "mode", "tap")
    ip_in(machine_ns, "link", "set", data_tap, "master", "br0", "up")
    ip_in(machine_ns, "link", "set", mgmt_tap, "up")
    directory = _directory(testbed, node)
    directory.mkdir(parents=True, exist_ok=True)
    init = directory / "init"
    init.write_text(init_script(testbed, node))
    init.chmod(0o755)
    argv = command(testbed, node, init)
    (directory / "command").write_text(" ".join(argv) + "\n")
    with open(directory / "console.log", "wb") as console:
        process = subprocess.Popen(
            ["ip", "netns", "exec", machine_ns, *argv],
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return process, time.monotonic()


def command(testbed, node: str, init: Path) -> list[str]:
    """The guest's command line: noxstate.py, the kernel and its parameters."""
    for path in (init, testbed.state_dir):
        if any(c.isspace() for c in str(path)):
            raise TestbedError(f"the uml platform cannot boot from a path with spaces: {path}")
    data_tap, mgmt_tap = _taps(node)
    return [
        sys.executable, str(NOXSTATE), kernel(), f"mem={MEMORY}",
        "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro", f"init={init}",
        f"umid={testbed.prefix}-{node}", f"uml_dir={_directory(testbed, node)}",
        f"vec0:transport=tap,ifname={data_tap},depth=128,gro=1", f"vec1:transport=tap,ifname={mgmt_tap}",
        "con=null", "con0=null,fd:1",
    ]  # fmt: skip


def init_script(testbed, node: str) -> str:
    """The guest's init: mounts (/dev is devtmpfs already), both addresses, then sshd as
    process 1 (it reaps its children)."""
    server = testbed.sshd(node)
    state = testbed.state_dir.resolve()
    exports = "".join(f"export {name}='{value}'\n" for name, value in GUEST_ENVIRONMENT.items())
    return f"""#!/bin/sh
# vnetbench: init of the User-mode Linux guest {node}; its root is the host's / (hostfs, read-only).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
{exports}mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /run/sshd {state}
# The testbed's state (the sshd's config and keys) again, wherever the tmpfs above hid it.
mount -r -t hostfs -o {state} hostfs {state}
hostname {node}
ip link set lo up
ip addr add {lab.NODE[node].address}/24 dev vec0
ip link set vec0 up
ip addr add {server.address}/24 dev vec1
ip link set vec1 up
echo vnetbench-uml-ready
exec {" ".join(server.command())}
"""


def _plug_management(testbed, node: str, process: subprocess.Popen) -> None:
    """Once the guest holds its management tap, move the tap onto the management bridge (a tap
    keeps its guest when it changes namespace; the guest opens it by name in its own)."""
    machine_ns, (_, mgmt_tap) = testbed.netns(lab.NODE[node].machine), _taps(node)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while "NO-CARRIER" in _flags(machine_ns, mgmt_tap):
        _check_alive(testbed, node, process, deadline, "hold its management tap")
        time.sleep(0.05)
    ip_in(machine_ns, "link", "set", mgmt_tap, "netns", testbed.mgmt_netns)
    ip_in(testbed.mgmt_netns, "link", "set", mgmt_tap, "master", "br0", "up")


def _flags(ns: str, device: str) -> list[str]:
    shown = json.loads(run("ip", "-n", ns, "-j", "link", "show", "dev", device).stdout or "[{}]")
    return shown[0].get("flags", [])


def _wait_sshd(testbed, node: str, process: subprocess.Popen) -> None:
    deadline, address = time.monotonic() + BOOT_TIMEOUT, testbed.mgmt_address(node)
    while True:
        if answers_ssh(address, 22):
            return
        _check_alive(testbed, node, process, deadline, f"answer SSH at {address}")
        time.sleep(0.1)


def _check_alive(testbed, node: str, process: subprocess.Popen, deadline: float, what: str) -> None:
    exited = process.poll() is not None
    if exited or time.monotonic() > deadline:
        console = (_directory(testbed, node) / "console.log").read_text(errors="replace")
        tail = "\n".join(console.splitlines()[-25:])
        state = (
            f"exited with code {process.returncode}" if exited else f"did not {what} in {BOOT_TIMEOUT:g} s"
        )
        argv = (_directory(testbed, node) / "command").read_text().strip()
        raise TestbedError(
            f"the User-mode Linux guest {node} {state}\n  command: {argv}\n  console (last lines):\n{tail}"
        )


def alive(pid: int) -> bool:
    """A live guest kernel (its main process)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == Path(kernel() or "linux.uml").name[:15]
    except OSError:
        return False


def describe(testbed, nodes: list[str]) -> dict:
    """For provenance: the guest kernel, how it boots, and each guest's boot time."""
    state = json.loads((testbed.state_dir / "state.json").read_text()).get("uml", {})
    path = kernel()
    version = run(path, "--version", check=False).stdout.strip() if path else None
    return {
        "kernel": path,
        "kernel_version": version,
        "memory": MEMORY,
        "root": "the host's / over hostfs, read-only; tmpfs on /tmp and /run",
        "network": "vec0: tap on the machine's bridge (vnet headers, GRO, TSO); vec1: management",
        "fpu": "FXSAVE only (noxstate.py); guest programs without AVX (" + ", ".join(GUEST_ENVIRONMENT) + ")",
        "guests": {node: state.get(node) for node in nodes},
    }
