"""The embedded testbed's topology as data: one row per node, one per data path.

vnetbench.testbed builds it (namespaces, the management network, sshd), each path by its
builder; as mininet keeps a topology apart from its build, a new platform is a row here and a
builder there, not edits in ten dicts. Data addresses are in 198.18.0.0/15 only.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    """A host of the lab (a namespace with its own sshd), or a machine a path needs of its own."""

    name: str  # its namespace is {prefix}-{name}
    title: str
    address: str  # where data reaches it
    mgmt: int | None  # the host part of its management address; None: no sshd of its own
    # A guest runs inside this machine's namespace, not in a namespace of its own: a QEMU guest
    # (no sshd of its own: SSH forwarded from the machine) or a User-mode Linux guest (its own
    # sshd, on the management network through a tap).
    machine: str | None = None
    # A machine's bridge: fixed, locally administered (see testbed._build).
    mac: str | None = None


@dataclass(frozen=True)
class Path:
    """A platform of the lab: a client node on machine A, a server node on machine B."""

    kind: str  # the config's `embedded:`
    ends: tuple[str, str]  # (client, server)
    # Who builds it: "paper" (with A and B, always), "guest" (QEMU, booted by its first cell),
    # "uml" (User-mode Linux guests, booted with the testbed: vnetbench.uml), "gvisor" (gVisor
    # sandboxes in routed namespaces, started with the testbed: vnetbench.gvisor), "ebpf"
    # (vnetbench.ebpf), or the name of its builder in vnetbench.datapaths. All but the paper's
    # and the QEMU guests' are built only when a platform names them.
    builder: str
    machines: tuple[str, ...] = ()  # namespaces of its own besides its ends (no sshd)
    # The server as a client sees it, where NAT publishes it: address and ports.
    server_as_seen: dict = field(default_factory=dict)
    # The devices of A and B it goes through, which provenance lists (the paper's paths share them).
    shared: tuple[str, ...] = ()

    @property
    def optional(self) -> bool:
        return self.builder not in ("paper", "guest")


NAT_A, NAT_B = "198.18.10.1", "198.18.10.2"  # bridge_nat's machines on their wire
# bridge_nat's ports published on B: netserver's, 64 data ports from data_port (one per
# concurrent flow; vnetbench.load) and the real-time netserver's of RRUL's probes.
PUBLISHED = {"netserver_port": 12866, "data_port": 12867, "data_ports": 64, "probe_netserver_port": 12931}

NODES = (
    Node("a", "machine A", "198.18.0.1", 10, mac="02:00:c6:12:00:01"),
    Node("b", "machine B", "198.18.0.2", 11, mac="02:00:c6:12:00:02"),
    Node("ca", "container on A", "198.18.1.2", 12),
    Node("cb", "container on B", "198.18.2.2", 13),
    Node("ga", "guest on A", "198.18.0.11", 14),
    Node("gb", "guest on B", "198.18.0.12", 15),
    Node("va", "QEMU guest on A", "198.18.0.21", None, machine="a"),
    Node("vb", "QEMU guest on B", "198.18.0.22", None, machine="b"),
    Node("na", "machine A of bridge and NAT", NAT_A, None, mac="02:00:c6:12:00:03"),
    Node("nb", "machine B of bridge and NAT", NAT_B, None, mac="02:00:c6:12:00:04"),
    Node("nca", "container on A (bridge and NAT)", "198.18.11.2", 16),
    Node("ncb", "container on B (bridge and NAT)", "198.18.12.2", 17),
    Node("ma", "macvlan endpoint on A", "198.18.0.31", 18),
    Node("mb", "macvlan endpoint on B", "198.18.0.32", 19),
    Node("ia", "ipvlan endpoint on A", "198.18.0.41", 20),
    Node("ib", "ipvlan endpoint on B", "198.18.0.42", 21),
    Node("oa", "VXLAN endpoint on A", "198.18.13.1", 22),
    Node("ob", "VXLAN endpoint on B", "198.18.13.2", 23),
    Node("wa", "WireGuard endpoint on A", "198.18.15.2", 24),
    Node("wb", "WireGuard endpoint on B", "198.18.16.2", 25),
    Node("ua", "User-mode Linux guest on A", "198.18.0.51", 26, machine="a"),
    Node("ub", "User-mode Linux guest on B", "198.18.0.52", 27, machine="b"),
    Node("sa", "gVisor sandbox on A", "198.18.17.2", 28),
    Node("sb", "gVisor sandbox on B", "198.18.18.2", 29),
    Node("ea", "container on A (eBPF host routing)", "198.18.19.2", 30),
    Node("eb", "container on B (eBPF host routing)", "198.18.20.2", 31),
)
MGMT_NODE = "mgmt"  # the management network's bridge namespace: no node of its own

PATHS = (
    Path("native", ("a", "b"), "paper"),
    Path("openvz", ("ca", "cb"), "paper"),
    Path("xen", ("ga", "gb"), "paper"),
    Path("vm", ("va", "vb"), "guest"),
    Path(
        "bridge_nat",
        ("nca", "ncb"),
        "bridge_nat",
        machines=("na", "nb"),
        server_as_seen={"address": NAT_B, "listen_address": "198.18.12.2", **PUBLISHED},
    ),  # fmt: skip
    Path("macvlan", ("ma", "mb"), "stacked", shared=("br0", "wire")),
    Path("ipvlan", ("ia", "ib"), "stacked", shared=("br0", "wire")),
    Path("vxlan", ("oa", "ob"), "vxlan", shared=("br0", "wire", "vx0", "ov0", "vo")),
    Path("wireguard", ("wa", "wb"), "wireguard", shared=("br0", "wire", "vw")),
    Path("uml", ("ua", "ub"), "uml", shared=("br0", "wire")),
    Path("gvisor", ("sa", "sb"), "gvisor", shared=("br0", "wire", "vs")),
    Path("ebpf_routing", ("ea", "eb"), "ebpf", shared=("br0", "wire", "ve")),
)

NODE = {node.name: node for node in NODES}
PATH = {path.kind: path for path in PATHS}
OPTIONAL = tuple(path.kind for path in PATHS if path.optional)  # built only when configured


def hosts_of(kinds: tuple[str, ...]) -> list[str]:
    """The nodes with an sshd of a lab with the paper's paths and the optional `kinds`, in order."""
    wanted = {end for path in PATHS if path.builder == "paper" or path.kind in kinds for end in path.ends}
    return [node.name for node in NODES if node.name in wanted and node.mgmt is not None]


def has_netns(node: str) -> bool:
    """Whether the node is a namespace of its own (a guest runs inside its machine's)."""
    return NODE[node].machine is None


def booted(kinds: tuple[str, ...], builder: str) -> list[str]:
    """The ends of the optional `kinds` that `builder` boots with the testbed ("uml": User-mode
    Linux guests; "gvisor": sandboxes), each with its own sshd inside."""
    return [end for kind in kinds if PATH[kind].builder == builder for end in PATH[kind].ends]


def machines_of(kinds: tuple[str, ...]) -> list[str]:
    """The namespaces the optional `kinds` need besides their ends."""
    return [machine for kind in kinds for machine in PATH[kind].machines]
