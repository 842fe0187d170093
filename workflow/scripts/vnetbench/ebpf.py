"""The ebpf_routing platform: the openvz platform's routed containers, with eBPF host routing.

    machine A (ns a)                                     machine B (ns b)
    wire: tc ingress to_end ---+          wire          +--- wire: tc ingress to_end
    br0 198.18.0.1 <-----------|------------------------|---> br0 198.18.0.2
    ve 198.18.19.1: tc ingress to_wire                   ve 198.18.20.1: tc ingress to_wire
       | veth (routed, as openvz's)                         | veth
    ea 198.18.19.2                                       eb 198.18.20.2

Cilium's eBPF host routing: a packet from a container leaves by the machine's uplink straight
from the tc hook of the container's veth (bpf_redirect_neigh: the neighbour table of the uplink
fills in the Ethernet addresses), and a packet for a container goes from the uplink's tc hook
straight into the container's namespace (bpf_redirect_peer). The machine's routing, netfilter
and forwarding never see either. The routes of the openvz platform are kept: a packet the
programs let pass is routed as before, and the counters each record keeps (`counters`) show
which way the packets went: with the bypass, the machine forwards nothing and sends nothing to
the end by its veth. The program on the wire sees every platform's packets (as Cilium's on a
node's NIC does): a few instructions each, for packets of other platforms a compare and a pass.

The programs are source here (bpf/*.s, BPF assembly), assembled at build time with the
machine's LLVM assembler (no clang needed), their devices' indexes and addresses filled in.
"""

import functools
import hashlib
import platform as host_platform
import re
import shutil
import subprocess
from pathlib import Path

from . import lab
from .netns import TestbedError, inside, run

SOURCES = Path(__file__).with_name("bpf")
VETH = "ve"  # the machine's side of an end's veth
HOOKS = {"to_wire": f"tc ingress of {VETH} (the end's veth, machine side)", "to_end": "tc ingress of wire"}
ASSEMBLER_MISSING = "no BPF assembler: install llvm (llvm-mc; scripts/setup.sh --all does)"
# bpf_redirect_peer (5.10) and bpf_redirect_neigh with a next hop (5.11).
KERNEL_NEEDED = (5, 11)


@functools.cache  # asked at every cell (Testbed.unavailable); the machine's tools stay put
def assembler() -> str | None:
    """The machine's LLVM assembler, where it can write BPF objects."""
    found = shutil.which("llvm-mc") or next(iter(sorted(Path("/usr/lib").glob("llvm-*/bin/llvm-mc"))), None)
    if not found:
        return None
    done = subprocess.run([str(found), "--version"], capture_output=True, text=True, check=False)
    return str(found) if "bpfel" in done.stdout else None


def missing() -> str | None:
    """What this machine lacks to route with eBPF, in one line; None if nothing."""
    release = tuple(int(part) for part in re.findall(r"\d+", host_platform.release())[:2])
    if release < KERNEL_NEEDED:
        return (
            f"the ebpf_routing platform needs Linux {'.'.join(map(str, KERNEL_NEEDED))} or later "
            f"(bpf_redirect_peer, bpf_redirect_neigh); this kernel is {host_platform.release()}"
        )
    if not (shutil.which("tc") or Path("/usr/sbin/tc").exists()):
        return "tc is missing: install iproute2"
    if assembler() is None:
        return ASSEMBLER_MISSING
    return None


def _subnet(node: str) -> str:
    return lab.NODE[node].address.rsplit(".", 1)[0]  # the end's /24, as "198.18.19"


def _as_u32(address: str) -> int:
    """An IPv4 address's four bytes as the little-endian word a BPF load gives."""
    return int.from_bytes(bytes(int(part) for part in address.split(".")), "little")


def _mac(ns: str, device: str) -> bytes:
    shown = run("ip", "-n", ns, "-br", "link", "show", "dev", device).stdout.split()
    return bytes.fromhex(shown[2].replace(":", ""))


def _ifindex(ns: str, device: str) -> int:
    return int(run("ip", "-n", ns, "-o", "link", "show", "dev", device).stdout.split(":", 1)[0])


def attach(testbed, kind: str) -> None:
    """The programs on each machine's side of its end's veth and on its wire (the ends are
    built as routed containers: datapaths.routed_pair)."""
    ends = dict(zip(("a", "b"), lab.PATH[kind].ends, strict=True))
    directory = testbed.state_dir / "ebpf"
    directory.mkdir(parents=True, exist_ok=True)
    for host, peer in (("a", "b"), ("b", "a")):
        ns, end = testbed.netns(host), testbed.netns(ends[host])
        end_mac, veth_mac = _mac(end, "eth0"), _mac(ns, VETH)
        values = {
            "to_wire": {
                "peer_subnet": _as_u32(f"{_subnet(ends[peer])}.0"),
                "next_hop": _as_u32(lab.NODE[peer].address),
                "bridge_ifindex": _ifindex(ns, "br0"),
            },
            "to_end": {
                "own_subnet": _as_u32(f"{_subnet(ends[host])}.0"),
                "end_mac_0_3": int.from_bytes(end_mac[0:4], "little"),
                "end_mac_4_5": int.from_bytes(end_mac[4:6], "little"),
                "veth_mac_0_1": int.from_bytes(veth_mac[0:2], "little"),
                "veth_mac_2_5": int.from_bytes(veth_mac[2:6], "little"),
                "veth_ifindex": _ifindex(ns, VETH),
            },
        }
        for program, device in (("to_wire", VETH), ("to_end", "wire")):
            obj = assemble(program, values[program], directory / f"{program}-{host}")
            inside(ns, "tc", "qdisc", "replace", "dev", device, "clsact")
            done = inside(ns, "tc", "filter", "replace", "dev", device, "ingress", "bpf", "direct-action",
                          "obj", str(obj), "sec", "tc", check=False)  # fmt: skip
            if done.returncode != 0:
                raise TestbedError(
                    f"the kernel refused the eBPF program {program} on {device} of machine {host} "
                    f"(exit {done.returncode}):\n{(done.stdout + done.stderr).strip()[-2000:]}"
                )


def assemble(program: str, values: dict, stem: Path) -> Path:
    """bpf/PROGRAM.s with `values` filled in, assembled into STEM.o (the filled source beside it)."""
    tool = assembler()
    if tool is None:
        raise TestbedError(ASSEMBLER_MISSING)
    source = stem.with_suffix(".s")
    source.write_text((SOURCES / f"{program}.s").read_text().format(**values))
    obj = stem.with_suffix(".o")
    argv = [tool, "-triple", "bpfel", "-filetype=obj", "-I", str(SOURCES), "-o", str(obj), str(source)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TestbedError(f"{tool} could not assemble {source}:\n{(done.stdout + done.stderr).strip()}")
    return obj


def counters(sshd_pids: dict) -> dict:
    """Each machine's packets so far through its side of the end's veth, and the datagrams its
    kernel forwarded; read in /proc of a process of the machine's namespace (its sshd), which
    costs a run no command."""
    found = {}
    for host in ("a", "b"):
        proc = Path(f"/proc/{sshd_pids[host]}/net")
        found[host] = {**_device_packets(proc / "dev", VETH), "forwarded": _forwarded(proc / "snmp")}
    return found


def _device_packets(table: Path, device: str) -> dict:
    for line in table.read_text().splitlines():
        name, _, numbers = line.partition(":")
        if name.strip() == device:
            fields = numbers.split()
            return {"veth_rx_packets": int(fields[1]), "veth_tx_packets": int(fields[9])}
    return {"veth_rx_packets": None, "veth_tx_packets": None}


def _forwarded(snmp: Path) -> int | None:
    lines = [line.split() for line in snmp.read_text().splitlines() if line.startswith("Ip:")]
    if len(lines) >= 2 and "ForwDatagrams" in lines[0]:
        return int(lines[1][lines[0].index("ForwDatagrams")])
    return None


def describe(testbed) -> dict:
    """For provenance: the programs (source and object hashes), the assembler, where they hang."""
    directory = testbed.state_dir / "ebpf"
    tool = assembler()
    version = run(tool, "--version", check=False).stdout.strip().splitlines()[:2] if tool else []
    return {
        "programs": {
            program: {
                "source_sha256": _sha256(SOURCES / f"{program}.s"),
                "objects_sha256": {host: _sha256(directory / f"{program}-{host}.o") for host in ("a", "b")},
                "hook": HOOKS[program],
            }
            for program in ("to_wire", "to_end")
        },
        "common_sha256": _sha256(SOURCES / "common.inc"),
        "assembler": " ".join(version),
        "helpers": "bpf_redirect_neigh (152) toward the wire, bpf_redirect_peer (155) toward the end",
    }


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
