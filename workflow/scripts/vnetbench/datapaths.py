"""Today's data paths on the embedded testbed: container networks, overlays, an encrypted tunnel.

Each path is a client on machine A and a server on machine B (their namespaces, each with its
own sshd on the management network, as every testbed host), joined by a real kernel data path:

- bridge_nat: Docker's and Podman's default network. Each end behind a bridge (docker0) of its
  machine, masqueraded on the way out; the server reached through ports published on B's
  address (DNAT), netperf's control port and its data port both. NAT turns conntrack on for
  every packet of its namespace, so this path has a pair of machines of its own (na, nb, built
  like A and B, with a wire of their own): the other paths never pay for its conntrack.
- macvlan (bridge mode), ipvlan (L2 mode): each end a device stacked on its machine's uplink.
  The wire is a port of the machine's bridge (the xen path's), so the uplink is that bridge.
- vxlan: an overlay between A and B over the wire (VNI 42, UDP 4789), each end behind a bridge
  on the VXLAN device, MTU 1450 (50 bytes of encapsulation).
- wireguard: each end behind a veth routed by its machine into a WireGuard tunnel between A
  and B (keys generated per testbed, MTU 1420). The kernel's WireGuard where it has one, else
  wireguard-go (userspace, through TUN), as provenance says.
- gvisor, ebpf_routing: each end behind a veth routed by its machine, as the openvz platform's
  containers; gvisor's ends are then sandboxes (vnetbench.gvisor, started with the testbed),
  ebpf_routing's get eBPF programs that bypass the machines' routing (vnetbench.ebpf).

Addresses are in 198.18.0.0/15 only; everything is in the testbed's namespaces, so `down`
removes it with them (wireguard-go too: it runs inside machine A's and B's namespaces).
"""

import ctypes
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from . import ebpf, gvisor, lab
from .netns import (
    TestbedError,
    address_end,
    bridged_end,
    inside,
    ip_in,
    link_exists,
    machine,
    routed_end,
    run,
    veth,
)

# The lab's rows (vnetbench.lab) built here: ends, builder, NAT view, shared devices (the uml
# platform's guests boot in vnetbench.uml, with nothing to build here).
PATHS = tuple(kind for kind in lab.OPTIONAL if lab.PATH[kind].builder != "uml")
NAT_A, NAT_B, PUBLISHED = lab.NAT_A, lab.NAT_B, lab.PUBLISHED
# Each node's data address (vnetbench.lab).
DATA_ADDRESS = {node.name: node.address for node in lab.NODES}
_WIRE = {"a": DATA_ADDRESS["a"], "b": DATA_ADDRESS["b"]}  # the machines' addresses on the wire
VXLAN_MTU = 1450
WIREGUARD_MTU = 1420
WIREGUARD_PORT = 51820
# wireguard-go's UDP sockets' buffers, as upstream's asks for them (conn/controlfns_linux.go:
# 7 MiB, past rmem_max with SO_RCVBUFFORCE). Debian 12's wireguard-go (0.0.20220316) keeps the
# kernel's default of 208 KiB, whose overflow under 8 flows (1,500 datagrams a second dropped,
# UdpRcvbufErrors) lost SYNs and first segments, so that flows started 1-3 s late.
WIREGUARD_GO_BUFFER = 7 << 20
_SO_SNDBUFFORCE, _SO_RCVBUFFORCE = 32, 33
_SYS_PIDFD_GETFD = 438  # the same number on every architecture (Linux 5.6)


def build(testbed, kind: str) -> None:
    """Build the path `kind` between A and B by its row's builder; its end namespaces already
    exist (with lo and their management veth), and so do A's and B's."""
    testbed.state_dir.mkdir(parents=True, exist_ok=True)  # rules and keys are kept there
    builders = {"bridge_nat": _bridge_nat, "stacked": _stacked, "vxlan": _vxlan, "wireguard": _wireguard,
                "gvisor": _gvisor, "ebpf": _ebpf}  # fmt: skip
    builders[lab.PATH[kind].builder](testbed, kind)


def routed_pair(testbed, kind: str, device: str) -> None:
    """Each end of `kind` behind a veth routed by its machine (whose side is `device`), and each
    machine's route to the other's end by the wire: the openvz platform's containers (built
    with A and B), and the ends of gvisor and ebpf_routing."""
    ends = dict(zip(("a", "b"), lab.PATH[kind].ends, strict=True))
    for host, peer in (("a", "b"), ("b", "a")):
        ns, subnet = testbed.netns(host), DATA_ADDRESS[ends[host]].rsplit(".", 1)[0]
        routed_end(ns, device, f"{subnet}.1", testbed.netns(ends[host]), DATA_ADDRESS[ends[host]])
        peer_subnet = DATA_ADDRESS[ends[peer]].rsplit(".", 1)[0]
        ip_in(ns, "route", "add", f"{peer_subnet}.0/24", "via", _WIRE[peer])


def _gvisor(testbed, kind: str) -> None:
    routed_pair(testbed, kind, gvisor.VETH)  # the sandboxes start once the sshds' keys exist


def _ebpf(testbed, kind: str) -> None:
    routed_pair(testbed, kind, ebpf.VETH)
    ebpf.attach(testbed, kind)


def _bridge_nat(testbed, kind: str) -> None:
    na, nb = testbed.netns("na"), testbed.netns("nb")
    veth(na, "wire", nb, "wire")
    for host, container, own, subnet in (("na", "nca", NAT_A, 11), ("nb", "ncb", NAT_B, 12)):
        ns, gateway = testbed.netns(host), f"198.18.{subnet}.1"
        machine(ns, own, lab.NODE[host].mac, testbed.link_rate)  # as A and B are
        ip_in(ns, "link", "add", "docker0", "type", "bridge")
        ip_in(ns, "addr", "add", f"{gateway}/24", "dev", "docker0")
        ip_in(ns, "link", "set", "docker0", "up")
        bridged_end(ns, "veth0", "docker0", testbed.netns(container), DATA_ADDRESS[container], via=gateway)
        rules = testbed.state_dir / f"nat-{host}.nft"
        rules.write_text(
            _nat_rules(f"198.18.{subnet}.0/24", DATA_ADDRESS[container] if host == "nb" else None)
        )
        inside(ns, _tool("nft", "nftables"), "-f", str(rules))


def _nat_rules(subnet: str, published_to: str | None) -> str:
    """Docker's rules, in nftables: masquerade what leaves the bridge's subnet, forward only
    established flows and the published ports (policy drop), DNAT the published ports."""
    data = f"{PUBLISHED['data_port']}-{PUBLISHED['data_port'] + PUBLISHED['data_ports'] - 1}"
    ports = f"{PUBLISHED['netserver_port']}, {PUBLISHED['probe_netserver_port']}, {data}"
    dnat = (
        f"""
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {NAT_B} tcp dport {{ {ports} }} counter dnat to {published_to}
    ip daddr {NAT_B} udp dport {data} counter dnat to {published_to}
  }}"""
        if published_to
        else ""
    )
    published = (
        f"""
    oifname "docker0" ip daddr {published_to} tcp dport {{ {ports} }} counter accept
    oifname "docker0" ip daddr {published_to} udp dport {data} counter accept"""
        if published_to
        else ""
    )
    return f"""table ip vnetbench {{{dnat}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {subnet} oifname != "docker0" counter masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related counter accept{published}
    iifname "docker0" oifname != "docker0" counter accept
  }}
}}
"""


def _stacked(testbed, kind: str) -> None:
    mode = {"macvlan": ("macvlan", "mode", "bridge"), "ipvlan": ("ipvlan", "mode", "l2")}[kind]
    for host, node in zip(("a", "b"), lab.PATH[kind].ends, strict=True):
        ns, inner = testbed.netns(host), testbed.netns(node)
        name = f"{kind[:2]}-{node}"
        done = run("ip", "-n", ns, "link", "add", name, "link", "br0", "type", *mode, check=False)
        if done.returncode != 0:
            raise TestbedError(
                f"the {kind} platform needs {kind} devices, which this kernel cannot make "
                f"(CONFIG_{kind.upper()}): ip link add ... type {' '.join(mode)}: "
                f"{(done.stdout + done.stderr).strip()}"
            )
        ip_in(ns, "link", "set", name, "netns", inner)
        ip_in(inner, "link", "set", name, "name", "eth0")
        address_end(inner, DATA_ADDRESS[node])


def _vxlan(testbed, kind: str) -> None:
    for host, peer, node in (("a", "b", "oa"), ("b", "a", "ob")):
        ns = testbed.netns(host)
        ip_in(ns, "link", "add", "vx0", "mtu", str(VXLAN_MTU), "type", "vxlan", "id", "42",
              "local", _WIRE[host], "remote", _WIRE[peer], "dstport", "4789", "dev", "br0")  # fmt: skip
        ip_in(ns, "link", "add", "ov0", "mtu", str(VXLAN_MTU), "type", "bridge")
        ip_in(ns, "link", "set", "vx0", "master", "ov0", "up")
        ip_in(ns, "link", "set", "ov0", "up")
        bridged_end(ns, "vo", "ov0", testbed.netns(node), DATA_ADDRESS[node], mtu=VXLAN_MTU)


def _wireguard(testbed, kind: str) -> None:
    wg = _tool("wg", "wireguard-tools")
    keys = testbed.state_dir / "wireguard"
    keys.mkdir(parents=True, exist_ok=True)
    public = {}
    for host in ("a", "b"):
        private = keys / f"{host}.key"
        private.write_text(run(wg, "genkey").stdout)
        private.chmod(0o600)
        public[host] = run(wg, "pubkey", input=private.read_text()).stdout.strip()
    tunnel = {"a": "198.18.14.1", "b": "198.18.14.2"}
    behind = {"a": ("wa", 15), "b": ("wb", 16)}
    userspace = []
    for host, peer in (("a", "b"), ("b", "a")):
        ns, device = testbed.netns(host), wireguard_device(testbed, host)
        process = _start_wireguard(testbed, ns, device)
        if process:
            userspace.append(process)
        node, subnet = behind[host]
        peer_subnet = behind[peer][1]
        inside(ns, wg, "set", device, "private-key", str(keys / f"{host}.key"),
               "listen-port", str(WIREGUARD_PORT), "peer", public[peer],
               "allowed-ips", f"{tunnel[peer]}/32,198.18.{peer_subnet}.0/24",
               "endpoint", f"{_WIRE[peer]}:{WIREGUARD_PORT}")  # fmt: skip
        ip_in(ns, "addr", "add", f"{tunnel[host]}/24", "dev", device)
        ip_in(ns, "link", "set", device, "mtu", str(WIREGUARD_MTU), "up")
        ip_in(ns, "route", "add", f"198.18.{peer_subnet}.0/24", "dev", device)
        routed_end(ns, "vw", f"198.18.{subnet}.1", testbed.netns(node), DATA_ADDRESS[node], mtu=WIREGUARD_MTU)
    for process in userspace:
        # Once its device is up: wireguard-go opens its sockets when it sees the device go up
        # (asynchronously), and opens them anew whenever it goes up again.
        for _ in range(100):
            if raise_udp_buffers(process.pid, WIREGUARD_GO_BUFFER):
                break
            time.sleep(0.02)
        else:
            raise TestbedError(f"wireguard-go (pid {process.pid}) opened no UDP socket within 2 s")


def raise_udp_buffers(pid: int, size: int) -> list[int]:
    """Set the receive and send buffers of process `pid`'s UDP sockets to `size` bytes (past
    rmem_max and wmem_max: root's SO_*BUFFORCE) on copies of its descriptors (pidfd_getfd), as
    the process would itself; the receive buffers the kernel then gives them (twice `size`),
    none where it has no UDP socket (yet)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd, sizes = os.pidfd_open(pid), []
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except FileNotFoundError:  # closed meanwhile
                continue
            copy = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if copy < 0:
                error = os.strerror(ctypes.get_errno())
                raise TestbedError(f"pidfd_getfd of fd {name} of pid {pid}: {error}")
            with socket.socket(fileno=copy) as udp:
                if udp.type != socket.SOCK_DGRAM or udp.family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                udp.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
                udp.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, size)
                sizes.append(udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    finally:
        os.close(pidfd)
    return sizes


def wireguard_device(testbed, host: str) -> str:
    """The tunnel's device on machine `host` (a or b). Named per testbed and machine:
    wireguard-go's control socket (/var/run/wireguard/NAME.sock) is shared by every namespace."""
    return f"wg{testbed.instance}{host}"


def _start_wireguard(testbed, ns: str, device: str) -> subprocess.Popen | None:
    """`device` in `ns`: the kernel's WireGuard (None), else wireguard-go in the namespace (its
    process, stopped by pid with every other process of the namespace at `down`)."""
    if run("ip", "-n", ns, "link", "add", device, "type", "wireguard", check=False).returncode == 0:
        return None
    userspace = _tool("wireguard-go", "wireguard-go")
    log = testbed.state_dir / f"wireguard-go-{ns}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, userspace, "-f", device],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    for _ in range(250):
        if link_exists(device, ns):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.02)
    raise TestbedError(f"wireguard-go did not make {device} in {ns}:\n{log.read_text().strip()}")


def _tool(command: str, package: str) -> str:
    found = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")
    if not found:
        raise TestbedError(f"{command} is missing: install {package} (scripts/setup.sh does)")
    return found


def describe(testbed, kind: str) -> dict:
    """What the path is made of, for provenance: every device of its namespaces (and of the
    machines' that carry it) with its kind, MTU and offloads, and the netfilter rules."""
    path = lab.PATH[kind]
    carriers = path.machines or ("a", "b")
    # On A and B, which the paper's platforms share, only the devices this path goes through.
    shared = set(path.shared)
    if kind == "wireguard":
        shared |= {wireguard_device(testbed, m) for m in "ab"}  # named per testbed
    devices = []
    for node in (*carriers, *path.ends):
        ns = testbed.netns(node)
        links = json.loads(run("ip", "-n", ns, "-d", "-j", "link", "show").stdout or "[]")
        for link in links:
            if link["ifname"] in ("lo", "mgmt0"):
                continue
            if node in ("a", "b") and link["ifname"] not in shared:
                continue
            kind_of = link.get("linkinfo", {}).get("info_kind", "device")
            devices.append({
                "node": node, "device": link["ifname"], "kind": kind_of, "mtu": link.get("mtu"),
                "master": link.get("master"), "offloads": _offloads(ns, link["ifname"]),
            })  # fmt: skip
    facts = {"devices": devices}
    if kind == "bridge_nat":
        facts["netfilter"] = {m: inside(testbed.netns(m), "nft", "list", "ruleset").stdout for m in carriers}
    if kind == "gvisor":
        facts["gvisor"] = gvisor.describe(testbed, list(path.ends))
    if kind == "ebpf_routing":
        facts["ebpf"] = ebpf.describe(testbed)
    if kind == "wireguard":
        kernel = Path("/sys/module/wireguard").exists()
        facts["wireguard"] = (
            "kernel" if kernel else "wireguard-go (userspace, TUN): this kernel has no WireGuard"
        )
        if not kernel:
            facts["wireguard_go_receive_buffers"] = {m: _udp_receive_buffers(testbed.netns(m)) for m in "ab"}
    return facts


def _udp_receive_buffers(ns: str) -> list[int]:
    """The receive buffers (bytes) of the tunnel's UDP sockets in `ns`, as `ss` reads them."""
    listing = inside(ns, "ss", "-Hunam", "sport", f"= :{WIREGUARD_PORT}").stdout
    return [int(part.split(",rb", 1)[1].split(",", 1)[0]) for part in listing.split("skmem:(")[1:]]


def _offloads(ns: str, device: str) -> dict | None:
    """The device's segmentation and checksum offloads that are on (ethtool -k), if ethtool is here."""
    if not shutil.which("ethtool"):
        return None
    done = inside(ns, "ethtool", "-k", device, check=False)
    wanted = ("tx-checksumming", "scatter-gather", "tcp-segmentation-offload", "generic-segmentation-offload",
              "generic-receive-offload", "rx-gro-list", "rx-udp-gro-forwarding")  # fmt: skip
    found = {}
    for line in done.stdout.splitlines():
        name, _, state = line.partition(":")
        if name.strip() in wanted:
            found[name.strip()] = state.split()[0] if state.split() else ""
    return found
