"""The vm platform's guest: a Debian cloud kernel and a generated initramfs, from Debian packages only.

`apt-get download` fetches the packages from the machine's configured Debian mirrors
and `dpkg-deb -x` unpacks them into a staging tree. The initramfs (a newc cpio,
written here so that equal inputs give equal bytes) holds busybox, netperf and
netserver, dropbear, the shared libraries they need (found by following ELF
NEEDED entries inside the staging tree, never on this host) and the virtio-net
modules. It holds no key: the testbed adds a small second archive with the
instance's keys at boot (the kernel unpacks concatenated archives in order).
"""

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import VnetbenchError

# The kernel metapackage is resolved to the image it depends on, whose version is recorded.
USERLAND_PACKAGES = (
    "busybox-static",
    "netperf",
    "dropbear-bin",
    "libc6",
    "libcrypt1",
    "libtomcrypt1",
    "libtommath1",
    "libgmp10",
    "zlib1g",
)
# Load order matters: each needs the ones before it (the cloud kernel has them as modules).
VIRTIO_MODULES = (
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
)
BINARIES = ("usr/bin/netperf", "usr/bin/netserver", "usr/sbin/dropbear")
_LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64")
_LOADER = "lib64/ld-linux-x86-64.so.2"
# The guest's boot script, which busybox init runs: part of the workflow's own files.
RC = Path(__file__).resolve().parents[2] / "guest" / "rc"


def recipe_sha256(rc_script: Path = RC) -> str:
    """sha256 of what the image is built from besides its packages: the boot script and this
    builder. The rule tracks it as a parameter, so a touched or moved checkout rebuilds nothing
    and an edited one rebuilds the image."""
    digest = hashlib.sha256()
    for path in (Path(rc_script), Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


class GuestImageError(VnetbenchError):
    """A package could not be fetched or the image could not be assembled; carries the evidence."""


@dataclass(frozen=True)
class Entry:
    """One member of a cpio archive."""

    name: str
    mode: int  # file type and permission bits
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def cpio_newc(entries: list[Entry]) -> bytes:
    """A newc ("070701") cpio archive, as the kernel unpacks it: owner root, mtime 0."""
    out = bytearray()
    for inode, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        fields = (inode, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0, *entry.rdev, len(name), 0)
        out += b"070701" + "".join(f"{field:08x}" for field in fields).encode() + name
        out += b"\0" * (-len(out) % 4)
        out += entry.data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def directory(name: str) -> Entry:
    return Entry(name, stat.S_IFDIR | 0o755)


def file(name: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(name, stat.S_IFREG | mode, data)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def _run(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise GuestImageError(f"command failed (exit {done.returncode}): {' '.join(argv)}\n{output}")
    return done.stdout


def resolve_kernel_package(metapackage: str) -> str:
    """The versioned image package a kernel metapackage depends on (linux-image-6.1.0-NN-cloud-amd64)."""
    output = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests", metapackage])
    images = re.findall(r"Depends: (linux-image-\S+)", output)
    if not images:
        raise GuestImageError(f"{metapackage}: no linux-image package among its dependencies:\n{output}")
    return images[0]


def fetch(packages: list[str], staging: Path, log=print) -> dict[str, str]:
    """Download and unpack `packages`; returns package -> version."""
    debs = staging / "debs"
    debs.mkdir(parents=True)
    # _apt cannot write into a root-only temporary directory; let it.
    debs.chmod(0o777)
    _run(["apt-get", "download", "-q", *packages], cwd=debs)
    versions = {}
    for deb in sorted(debs.glob("*.deb")):
        fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"])
        info = dict(line.split(": ", 1) for line in fields.strip().splitlines())
        versions[info["Package"]] = info["Version"]
        _run(["dpkg-deb", "-x", str(deb), str(staging / "root")])
        log(f"unpacked {info['Package']} {info['Version']}")
    missing = set(packages) - set(versions)
    if missing:
        raise GuestImageError(f"apt-get download gave no package for: {', '.join(sorted(missing))}")
    return versions


def _needed(binary: Path) -> list[str]:
    output = _run(["readelf", "-d", str(binary)])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", output)


def _find_library(root: Path, soname: str) -> str:
    for folder in _LIBRARY_DIRS:
        if (root / folder / soname).exists():
            return f"{folder}/{soname}"
    raise GuestImageError(f"shared library {soname} is in none of the unpacked packages")


def libraries(root: Path, binaries: list[str]) -> list[str]:
    """Every shared library the binaries need, transitively, as paths inside `root`."""
    found, queue = {}, list(binaries)
    while queue:
        for soname in _needed(root / queue.pop()):
            if soname not in found:
                found[soname] = _find_library(root, soname)
                queue.append(found[soname])
    return sorted(found.values())


def _real_file(root: Path, relative: str) -> bytes:
    """The bytes behind a symlink chain inside `root` (libraries are symlinks to versioned
    files; the loader's is absolute, and must not resolve to this host's copy)."""
    path = root / relative
    for _ in range(10):
        if not path.is_symlink():
            return path.read_bytes()
        target = os.readlink(path)
        path = root / target.lstrip("/") if target.startswith("/") else path.parent / target
    raise GuestImageError(f"{relative}: too many symlinks")


def initramfs_entries(root: Path, kernel_release: str, rc_script: bytes) -> list[Entry]:
    folders = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "lib", "lib/modules", "lib64",
               "lib/x86_64-linux-gnu", "usr/lib", "usr/lib/x86_64-linux-gnu", "dev", "proc", "sys",
               "tmp", "run", "root", "root/.ssh", "etc", "etc/dropbear", "etc/vnetbench"]  # fmt: skip
    entries = [directory(folder) for folder in folders]
    entries[folders.index("root/.ssh")] = Entry("root/.ssh", stat.S_IFDIR | 0o700)
    entries += [
        Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        Entry("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3)),
        file("bin/busybox", (root / "bin/busybox").read_bytes(), 0o755),
        symlink("init", "bin/busybox"),
        file("etc/inittab", b"::sysinit:/etc/vnetbench/rc\n"),
        file("etc/vnetbench/rc", rc_script, 0o755),
        file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        file("etc/group", b"root:x:0:\n"),
        file("etc/shells", b"/bin/sh\n"),
    ]
    for applet in _busybox_applets(root / "bin/busybox"):
        if applet not in ("bin/busybox", "linuxrc"):
            entries.append(symlink(applet, "/bin/busybox"))
    for binary in BINARIES:
        entries.append(file(binary, (root / binary).read_bytes(), 0o755))
    for library in libraries(root, list(BINARIES)):
        entries.append(file(library, _real_file(root, library), 0o755))
    entries.append(file(_LOADER, _real_file(root, _LOADER), 0o755))
    modules = root / "lib/modules" / kernel_release / "kernel"
    for module in VIRTIO_MODULES:
        entries.append(file(f"lib/modules/{Path(module).name}", (modules / module).read_bytes()))
    return entries


def _busybox_applets(busybox: Path) -> list[str]:
    # busybox-static runs on any x86-64 Linux: ask it for its applets' install paths.
    paths = _run([str(busybox), "--list-full"]).split()
    return sorted(path for path in paths if "/" in path)


def build(kernel_metapackage: str, rc_script: Path, out_kernel: Path, out_initramfs: Path, out_manifest: Path,
          log=print) -> dict:  # fmt: skip
    """Fetch the packages, write the kernel, the initramfs and a manifest of what went in."""
    kernel_package = resolve_kernel_package(kernel_metapackage)
    with tempfile.TemporaryDirectory(prefix="vnetbench-guest-") as scratch:
        staging = Path(scratch)
        versions = fetch([kernel_package, *USERLAND_PACKAGES], staging, log)
        root = staging / "root"
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        if len(kernels) != 1:
            raise GuestImageError(f"{kernel_package}: expected one /boot/vmlinuz-*, found {kernels}")
        release = kernels[0].name.removeprefix("vmlinuz-")
        archive = cpio_newc(initramfs_entries(root, release, rc_script.read_bytes()))
        for path in (out_kernel, out_initramfs, out_manifest):
            path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kernels[0], out_kernel)
        # mtime=0: the same packages and script give the same bytes.
        out_initramfs.write_bytes(gzip.compress(archive, mtime=0))
    manifest = {
        "kernel_release": release,
        "kernel_package": kernel_package,
        "packages": versions,
        "modules": [Path(module).stem for module in VIRTIO_MODULES],
        "sha256": {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (out_kernel, out_initramfs)
        },
    }
    out_manifest.write_text(json.dumps(manifest, indent=1) + "\n")
    log(f"guest image: kernel {release}, initramfs {out_initramfs.stat().st_size // 1024} KiB")
    return manifest
