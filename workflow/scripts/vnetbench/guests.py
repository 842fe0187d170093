"""The vm platform: a QEMU guest in each machine namespace, booted on the first vm cell.

    machine A (ns a)                                   machine B (ns b)
    br0 [wire, vg, tapvm] ======== wire ========= br0 [wire, vg, tapvm]
           |  tap                                        |  tap
     qemu: guest va, virtio-net 198.18.0.21        qemu: guest vb, virtio-net 198.18.0.22
           + user-mode NIC: SSH on A's management address, port 2222 (the guest has no route)

The data path is a paravirtualized NIC (virtio-net, today's netfront) on a tap device
enslaved to the machine's bridge, as a Xen guest's vif is. SSH reaches the guest through
QEMU's user-mode network (`restrict=on`: the guest cannot open connections through it),
forwarded from the machine's management address, so cells reach guests like any host.

Guests boot with KVM when a bounded probe boot shows it works on this host (its outcome
is kept per host boot, in GuestSettings.kvm_probe_cache), else with TCG. Each boot plugs its
guest's tap into the bridge itself, and a pair counts as up only once both taps are up in
their bridges and both guests answer on their data addresses. Their state (pids,
accelerator, boot times) is in the testbed's state directory; stopping the testbed's
namespaces stops them.
"""

import base64
import contextlib
import fcntl
import gzip
import json
import os
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import guest_image
from .model import GuestSettings
from .testbed import (
    DATA_ADDRESS,
    GUEST_MACHINE,
    GUEST_SSH_PORT,
    Testbed,
    TestbedError,
    ip_in,
    is_alive,
    kill_pid,
    process_name,
)

READY = "vnetbench-guest-ready"
QEMU = "qemu-system-x86_64"
TAP = "tapvm"  # each guest's data NIC, in its machine's namespace


@dataclass(frozen=True)
class Guest:
    node: str
    machine: str  # the namespace QEMU runs in
    data_address: str
    data_mac: str
    mgmt_mac: str


# MACs: 52:54:00 is QEMU's prefix; then 12 (data) or 13 (management) and the guest's last address byte.
GUESTS = tuple(
    Guest(node, machine, DATA_ADDRESS[node], f"52:54:00:12:00:{int(DATA_ADDRESS[node].split('.')[-1]):02x}",
          f"52:54:00:13:00:{int(DATA_ADDRESS[node].split('.')[-1]):02x}")
    for node, machine in GUEST_MACHINE.items()
)  # fmt: skip


@dataclass(frozen=True)
class Image:
    kernel: Path
    initramfs: Path
    manifest: Path


def cached_image(directory: str | Path = "resources/guest") -> Image:
    """Where the rule guest_image keeps the image (outside results/)."""
    directory = Path(directory)
    return Image(directory / "vmlinuz", directory / "initramfs.cpio.gz", directory / "manifest.json")


class GuestBootError(TestbedError):
    """A guest did not come up; carries its QEMU command and console log."""


def state_file(testbed: Testbed) -> Path:
    return testbed.state_dir / "guests.json"


def _directory(testbed: Testbed, guest: Guest) -> Path:
    return testbed.state_dir / "guests" / guest.node


def running(testbed: Testbed) -> dict | None:
    """The guests' state when both QEMU processes it names are alive, else None."""
    try:
        state = json.loads(state_file(testbed).read_text())
    except (OSError, ValueError):
        return None
    pids = [entry.get("pid") for entry in state.get("guests", {}).values()]
    alive = len(pids) == len(GUESTS) and all(qemu_alive(pid) for pid in pids)
    return state if alive or "failed" in state else None


def qemu_alive(pid: int) -> bool:
    """A live QEMU (not a zombie waiting for init to reap it)."""
    return process_name(pid) == QEMU[:15] and is_alive(pid)


@contextlib.contextmanager
def _lock(testbed: Testbed):
    testbed.state_dir.mkdir(parents=True, exist_ok=True)
    with open(testbed.state_dir / "guests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure(testbed: Testbed, image: Image, settings: GuestSettings, log=print, on_boot=None) -> dict:
    """Boot both guests unless they run; returns their state. After a boot, `on_boot(state)`
    may check them. A failure is kept (until the testbed goes down), so the run's other vm
    cells fail at once with the same evidence instead of booting again."""
    with _lock(testbed):
        state = running(testbed)
        if state and "failed" in state:
            raise GuestBootError(f"{state['failed']}\n(kept from this run's first boot attempt)")
        if state:
            return state
        stop(testbed, log)  # a half-booted pair from a crash
        try:
            state = _boot_all(testbed, image, settings, log)
            if on_boot:
                on_boot(state)
        except Exception as error:
            stop(testbed, log)
            state_file(testbed).write_text(json.dumps({"failed": str(error)}, indent=1))
            raise
        except BaseException:
            stop(testbed, log)
            raise
        state_file(testbed).write_text(json.dumps(state, indent=1))
        return state


def _boot_all(testbed: Testbed, image: Image, settings: GuestSettings, log) -> dict:
    manifest = json.loads(image.manifest.read_text())
    host_lines = []
    for guest in GUESTS:
        host_lines.append(_prepare(testbed, guest, image))
    testbed.guest_known_hosts.write_text("".join(host_lines))
    qemu = qemu_version()
    accel, reason, guests = _choose_accel(testbed, image, settings, qemu, log)
    pending = [guest for guest in GUESTS if guest.node not in guests]
    guests.update(_boot(testbed, pending, image, accel, settings, settings.boot_timeout))
    check_network(testbed)
    for node, entry in guests.items():
        log(f"guest {node} ({accel}) ready in {entry['boot_s']} s")
    return {
        "accel": accel,
        "accel_reason": reason,
        "qemu_version": qemu,
        "kernel_release": manifest["kernel_release"],
        "image_sha256": manifest["sha256"],
        "memory_mb": settings.memory_mb,
        "vcpus": 1,
        "guests": guests,
    }


def _choose_accel(
    testbed: Testbed, image: Image, settings: GuestSettings, qemu: str, log
) -> tuple[str, str, dict]:
    """("kvm"|"tcg", why, guests already booted by the probe)."""
    if settings.accel == "tcg":
        return "tcg", "guest.accel: tcg", {}
    if settings.accel == "kvm":
        first = GUESTS[0]
        return (
            "kvm",
            "guest.accel: kvm",
            _boot(testbed, [first], image, "kvm", settings, settings.boot_timeout),
        )
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm", {}
    # Whether KVM works is a fact of this host until it reboots (/run is emptied then); the
    # boot id and QEMU version in the file make sure of it.
    cache = Path(settings.kvm_probe_cache)
    key = {"boot_id": _boot_id(), "qemu": qemu}
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(cache.read_text())
        if cached.get("key") == key and not cached["works"]:
            return (
                "tcg",
                f"{cached['why']} (probed at {cached['probed_at']}, kept until the host reboots)",
                {},
            )
    first = GUESTS[0]
    try:
        booted = _boot(testbed, [first], image, "kvm", settings, settings.kvm_probe_timeout)
    except GuestBootError as error:
        why = f"KVM probe boot failed: {str(error).splitlines()[0]}"
        log(f"{why}; using TCG")
        _stop_guest(testbed, first)  # its tap goes too: the next launch plugs a new one
        probed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _keep(cache, {"key": key, "works": False, "why": why, "probed_at": probed_at})
        return "tcg", why, {}
    _keep(cache, {"key": key, "works": True})
    return "kvm", "KVM probe boot succeeded", booted


def _keep(cache: Path, outcome: dict) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(outcome))


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def qemu_version() -> str:
    try:
        done = subprocess.run([QEMU, "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError:
        raise GuestBootError(f"{QEMU} not found: install qemu-system-x86 (make setup does)") from None
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def _prepare(testbed: Testbed, guest: Guest, image: Image) -> str:
    """The guest's initrd (the image plus an archive with its keys); its known_hosts line."""
    directory = _directory(testbed, guest)
    directory.mkdir(parents=True, exist_ok=True)
    private, public = dropbear_host_key()
    authorized = Path(f"{testbed.client_key}.pub").read_bytes()
    keys = guest_image.cpio_newc(
        [
            guest_image.file("etc/dropbear/host_key", private, 0o600),
            guest_image.file("root/.ssh/authorized_keys", authorized, 0o600),
        ]
    )
    initrd = directory / "initrd"
    with open(os.open(initrd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(image.initramfs.read_bytes() + gzip.compress(keys, mtime=0))
    return f"[{testbed.mgmt_address(guest.machine)}]:{GUEST_SSH_PORT} {public}\n"


def dropbear_host_key() -> tuple[bytes, str]:
    """A new ed25519 key: dropbear's private key file, and the OpenSSH public key text."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def string(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    private_file = string(b"ssh-ed25519") + string(seed + public)
    public_text = "ssh-ed25519 " + base64.b64encode(string(b"ssh-ed25519") + string(public)).decode()
    return private_file, public_text


def qemu_command(testbed: Testbed, guest: Guest, kernel: Path, accel: str, memory_mb: int) -> list[str]:
    directory = _directory(testbed, guest)
    cmdline = (
        "console=ttyS0 panic=-1 ipv6.disable=1"
        f" vnb.data={guest.data_address}/24 vnb.data_mac={guest.data_mac}"
        f" vnb.mgmt=10.0.2.15/24 vnb.mgmt_mac={guest.mgmt_mac} vnb.mgmt_net={testbed.mgmt_net}.0/24"
    )
    forward = f"tcp:{testbed.mgmt_address(guest.machine)}:{GUEST_SSH_PORT}-:22"
    return [
        "ip", "netns", "exec", testbed.netns(guest.machine),
        QEMU, "-name", f"vnetbench-{testbed.prefix}-{guest.node}",
        "-accel", accel, "-m", str(memory_mb), "-smp", "1",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(directory / "initrd"), "-append", cmdline,
        "-serial", f"file:{directory / 'console.log'}",
        "-netdev", f"tap,id=data,ifname={TAP},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=data,mac={guest.data_mac}",
        "-netdev", f"user,id=mgmt,restrict=on,hostfwd={forward}",
        "-device", f"virtio-net-pci,netdev=mgmt,mac={guest.mgmt_mac}",
        "-pidfile", str(directory / "qemu.pid"), "-daemonize",
    ]  # fmt: skip


@dataclass(frozen=True)
class _Launch:
    guest: Guest
    accel: str
    argv: list[str]
    pid: int
    began: float


def _plug_tap(testbed: Testbed, guest: Guest) -> None:
    """The guest's tap, up in its machine's bridge, before every launch: QEMU would create a
    missing tap itself, down and in no bridge (a failed KVM probe removes the first one)."""
    netns = testbed.netns(guest.machine)
    if subprocess.run(["ip", "-n", netns, "link", "show", TAP], capture_output=True).returncode != 0:
        ip_in(netns, "tuntap", "add", "dev", TAP, "mode", "tap")
    ip_in(netns, "link", "set", TAP, "master", "br0", "up")


def check_network(testbed: Testbed, timeout: float = 5.0) -> None:
    """Both guests on the data network: each tap up in its bridge, and each guest answering
    on its data address from machine A (vb across the wire). GuestBootError with the evidence."""
    problems = []
    for guest in GUESTS:
        netns = testbed.netns(guest.machine)
        shown = subprocess.run(["ip", "-j", "-n", netns, "link", "show", TAP], capture_output=True, text=True)
        link = (json.loads(shown.stdout or "[{}]") or [{}])[0]
        where = f"machine {guest.machine.upper()} ({netns})"
        if shown.returncode != 0:
            problems.append(f"{where}: no {TAP}: {shown.stderr.strip()}")
            continue
        if "UP" not in link.get("flags", []):
            problems.append(f"{where}: {TAP} is down (flags {','.join(link.get('flags', []))})")
        if link.get("master") != "br0":
            problems.append(f"{where}: {TAP} is not a port of br0 (master: {link.get('master', 'none')})")
    if not problems:
        source = testbed.netns(GUESTS[0].machine)
        for guest in GUESTS:
            # dropbear listens on every address: a TCP handshake proves the data path both ways.
            probe = ["ip", "netns", "exec", source, "timeout", f"{timeout:g}", "bash", "-c",
                     f"exec 3<>/dev/tcp/{guest.data_address}/22"]  # fmt: skip
            done = subprocess.run(probe, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                problems.append(
                    f"guest {guest.node} does not answer on its data address {guest.data_address} "
                    f"from machine {GUESTS[0].machine.upper()} within {timeout:g} s: {' '.join(probe)} "
                    f"exited {done.returncode} {done.stderr.strip()}"
                )
    if problems:
        raise GuestBootError("the guests' data network is not right:\n  " + "\n  ".join(problems))


def _launch(testbed: Testbed, guest: Guest, image: Image, accel: str, settings: GuestSettings) -> _Launch:
    _plug_tap(testbed, guest)
    directory = _directory(testbed, guest)
    (directory / "console.log").unlink(missing_ok=True)
    (directory / "qemu.pid").unlink(missing_ok=True)
    argv = qemu_command(testbed, guest, image.kernel, accel, settings.memory_mb)
    began = time.monotonic()
    # -daemonize returns once QEMU has opened its devices, so a bad tap or kernel fails here.
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    if done.returncode != 0:
        raise GuestBootError(_evidence(guest, accel, f"QEMU exited {done.returncode}", argv, done.stderr))
    return _Launch(guest, accel, argv, int((directory / "qemu.pid").read_text()), began)


def _wait_ready(testbed: Testbed, launch: _Launch, timeout: float) -> dict:
    """Wait for the guest's ready line and SSH banner; GuestBootError with the console log otherwise."""
    guest, console = launch.guest, _directory(testbed, launch.guest) / "console.log"
    deadline = launch.began + timeout

    def fail(problem: str) -> GuestBootError:
        kill_pid(launch.pid)
        return GuestBootError(_evidence(guest, launch.accel, problem, launch.argv, _read(console)))

    while READY not in _read(console):
        if not qemu_alive(launch.pid):
            raise fail("QEMU exited during boot")
        if time.monotonic() > deadline:
            raise fail(f"no '{READY}' line within {timeout:g} s")
        time.sleep(0.05)
    try:
        _wait_banner(testbed.mgmt_address(guest.machine), GUEST_SSH_PORT, deadline)
    except OSError as error:
        raise fail(f"no SSH banner on port {GUEST_SSH_PORT}: {error}") from None
    return {"pid": launch.pid, "machine": guest.machine, "boot_s": round(time.monotonic() - launch.began, 2)}


def _boot(
    testbed: Testbed, guests: list[Guest], image: Image, accel: str, settings: GuestSettings, timeout: float
) -> dict:
    """Boot the guests side by side; their states by node."""
    launches = [_launch(testbed, guest, image, accel, settings) for guest in guests]
    return {launch.guest.node: _wait_ready(testbed, launch, timeout) for launch in launches}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _evidence(guest: Guest, accel: str, problem: str, argv: list[str], console: str) -> str:
    tail = "\n".join(console.rstrip().splitlines()[-40:]) or "(empty)"
    return (
        f"guest {guest.node} on machine {guest.machine.upper()} ({accel}): {problem}\n"
        f"  command: {' '.join(argv)}\n  console log (last 40 lines):\n{tail}"
    )


def _wait_banner(address: str, port: int, deadline: float) -> None:
    # QEMU's forwarder accepts connections before the guest listens: wait for dropbear's banner.
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                sock.settimeout(max(0.2, min(2.0, deadline - time.monotonic())))
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.1)


def _stop_guest(testbed: Testbed, guest: Guest) -> str | None:
    pidfile = _directory(testbed, guest) / "qemu.pid"
    stopped = None
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text())
        if qemu_alive(pid):
            kill_pid(pid)
            stopped = f"guest {guest.node}: stopped qemu {pid}"
    pidfile.unlink(missing_ok=True)
    netns = testbed.netns(guest.machine)
    if Path(f"/run/netns/{netns}").exists():
        subprocess.run(["ip", "-n", netns, "link", "del", TAP], capture_output=True)
    return stopped


def stop(testbed: Testbed, log=print) -> list[str]:
    """Stop both guests by pid and delete their taps; forget their state."""
    done = [line for guest in GUESTS if (line := _stop_guest(testbed, guest))]
    state_file(testbed).unlink(missing_ok=True)
    for line in done:
        log(line)
    return done
