"""The embedded testbed: the paper's two machines and their platforms, in network namespaces.

    machine A (ns a)                               machine B (ns b)
    +-------------------------------+   wire    +-------------------------------+
    | br0 198.18.0.1 [wire, vg]     |===========| br0 198.18.0.2 [wire, vg]     |
    |  vc 198.18.1.1 (routed)       |           |  vc 198.18.2.1 (routed)       |
    +--|----------------|-----------+           +--|----------------|-----------+
       | veth           | veth (bridged)           |                |
    container ca     guest ga                   container cb     guest gb
    198.18.1.2       198.18.0.11                198.18.2.2       198.18.0.12

- native: netperf in A, netserver in B, over the wire.
- openvz: container to container, each behind a veth routed by its machine's kernel
  (OpenVZ's veth/venet): two routed hops.
- xen: guest to guest, each on a veth enslaved to its machine's bridge, which also holds
  the wire (Xen's netback and bridge in dom0): no routing.

Today's data paths (bridge and NAT, macvlan, ipvlan, VXLAN, WireGuard: vnetbench.datapaths)
are built besides, each only when a platform names it. Every node and path, with its address,
machine and builder, is a row of vnetbench.lab; this module builds them.

Every host runs its own sshd on a management network (198.19.N.0/24, a bridge in the
`mgmt` namespace, reached from the root namespace through one veth), so cells reach
testbed hosts exactly as they reach external ones. Names carry an instance id derived
from the working directory, so two checkouts on one machine never collide. `down` needs
no state: it finds the instance's namespaces by name, kills every process in them by pid,
and deletes them.
"""

import contextlib
import functools
import hashlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from . import datapaths, ebpf, gvisor, lab, uml
from .model import Host
from .netns import TestbedError, bridged_end, ip_in, link_exists, machine, run, veth
from .sshd import SSHServer, generate_key, wait_listening

# The lab's topology is data (vnetbench.lab); these are views of it.
PLATFORM_NODES = {path.kind: path.ends for path in lab.PATHS}
DATA_ADDRESS = {node.name: node.address for node in lab.NODES}
# QEMU guests (guests.py) run inside their machine's namespace, booted on first use; their
# SSH is forwarded from the machine's management address. (User-mode Linux guests, uml.py,
# run inside their machine's namespace too, but have an sshd of their own.)
GUEST_MACHINE = {node.name: node.machine for node in lab.NODES if node.machine and node.mgmt is None}
GUEST_SSH_PORT = 2222
# What each optional builder needs of this machine: a function naming what is missing, or None.
MISSING = {"uml": uml.missing, "gvisor": gvisor.missing, "ebpf": ebpf.missing}
# The builders whose ends boot with the testbed, each with its own sshd inside: the module that
# boots them (`boot`) and tells a live one by its pid (`alive`).
BOOTERS = {"uml": uml, "gvisor": gvisor}


@dataclass(frozen=True)
class Testbed:
    instance: str  # 6 hex digits, from the working directory
    state_dir: Path
    link_rate: str | None = None
    paths: tuple[str, ...] = ()  # of lab.OPTIONAL: built besides the paper's platforms

    @functools.cached_property  # looked at by every cell; a machine's tools stay put in a run
    def unavailable(self) -> dict[str, str]:
        """The optional paths this machine cannot build, each with what it lacks in one line:
        they are left out of the testbed, and their cells fail naming it (the others measure)."""
        found = {}
        for kind in self.paths:
            check = MISSING.get(lab.PATH[kind].builder)
            problem = check() if check else None
            if problem:
                found[kind] = problem
        return found

    @property
    def built(self) -> tuple[str, ...]:
        """The optional paths the testbed builds: those configured that this machine can build."""
        return tuple(kind for kind in self.paths if kind not in self.unavailable)

    @property
    def nodes(self) -> list[str]:
        """The hosts, each a namespace with its own sshd."""
        return lab.hosts_of(self.built)

    @property
    def all_netns(self) -> set[str]:
        nodes = [node for node in self.nodes if lab.has_netns(node)] + lab.machines_of(self.built)
        return {self.netns(node) for node in nodes} | {self.mgmt_netns}

    def booted(self, builder: str) -> list[str]:
        """The ends `builder` (of BOOTERS) boots, each with its own sshd inside."""
        return lab.booted(self.built, builder)

    @property
    def uml_guests(self) -> list[str]:
        return self.booted("uml")

    @property
    def prefix(self) -> str:
        return f"vnb{self.instance}"

    @property
    def mgmt_net(self) -> str:
        return f"198.19.{int(self.instance, 16) % 250 + 1}"

    def netns(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    @property
    def mgmt_netns(self) -> str:
        return self.netns("mgmt")

    @property
    def root_link(self) -> str:
        return f"{self.prefix}m"  # the one interface in the root namespace (15 chars at most)

    def mgmt_address(self, node: str) -> str:
        return f"{self.mgmt_net}.{lab.NODE[node].mgmt}"

    @property
    def client_key(self) -> Path:
        return self.state_dir / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def guest_known_hosts(self) -> Path:
        return self.state_dir / "known_hosts_guests"  # rewritten at every guest boot

    def host(self, node: str, role: str, platform: str) -> Host:
        """A testbed node as the same kind of SSH host as any external one."""
        guest = node in GUEST_MACHINE
        # A server behind NAT is reached at its machine's published address and ports.
        seen = next((path.server_as_seen for path in lab.PATHS if path.ends[1] == node), {})
        server = {"address": DATA_ADDRESS[node], **seen}
        return Host(
            name=f"{platform} {role}",
            ssh_host=self.mgmt_address(GUEST_MACHINE.get(node, node)),
            port=GUEST_SSH_PORT if guest else 22,
            key=str(self.client_key),
            known_hosts=str(self.guest_known_hosts if guest else self.known_hosts),
            **(server if role == "server" else {}),
            # Measurements are tied to the node, not to this checkout's management addresses.
            identity=f"embedded {lab.NODE[node].title}",
        )

    def sshd(self, node: str) -> SSHServer:
        environment = uml.GUEST_ENVIRONMENT if node in self.uml_guests else {}
        return SSHServer(
            self.state_dir / "sshd" / node, self.mgmt_address(node), 22, self.client_key, environment
        )


def for_workdir(
    workdir: str | os.PathLike, link_rate: str | None = None, paths: tuple[str, ...] = ()
) -> Testbed:
    workdir = Path(workdir).resolve()
    instance = hashlib.sha256(str(workdir).encode()).hexdigest()[:6]
    return Testbed(instance, workdir / ".vnetbench" / "testbed", link_rate, tuple(paths))


def namespaces(testbed: Testbed) -> list[str]:
    """The instance's namespaces that exist now."""
    listing = run("ip", "netns", "list").stdout
    names = [line.split()[0] for line in listing.splitlines() if line.strip()]
    return [name for name in names if name.startswith(f"{testbed.prefix}-")]


def is_up(testbed: Testbed) -> bool:
    """True when every namespace exists and every sshd we started still runs."""
    state = testbed.state_dir / "state.json"
    if not state.exists():
        return False
    kept = json.loads(state.read_text())
    pids = kept.get("sshd_pids", {})
    booted = {builder: kept.get(builder, {}) for builder in BOOTERS}
    running = set(pids).union(*booted.values())
    if not testbed.all_netns <= set(namespaces(testbed)) or running != set(testbed.nodes):
        return False
    return all(process_name(pid) == "sshd" for pid in pids.values()) and all(
        BOOTERS[builder].alive(end["pid"]) for builder, ends in booted.items() for end in ends.values()
    )


def path_counters(testbed: Testbed, kind: str | None):
    """What a path's records keep of their runs besides netperf's output: a function read
    around each run (vnetbench.cell), or None. The ebpf_routing platform's: its machines' veth
    and forwarding counters, which show whether their routing was bypassed (ebpf.counters)."""
    if kind not in testbed.built or lab.PATH[kind].builder != "ebpf":
        return None
    pids = json.loads((testbed.state_dir / "state.json").read_text())["sshd_pids"]
    return functools.partial(ebpf.counters, pids)


def process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def require_root() -> None:
    if os.geteuid() != 0:
        raise TestbedError(
            "the embedded testbed (testbed: embedded) needs root for network namespaces.\n"
            "  Run as root, or measure external hosts (testbed: hosts, see config/README.md),\n"
            "  or this machine over loopback: snakemake --cores 1 --configfile config/loopback.yaml"
        )


def up(testbed: Testbed, log=print) -> None:
    """Build the testbed, or keep it if it is already whole (its inventory: `inventory`)."""
    require_root()
    if is_up(testbed):
        log(f"testbed {testbed.prefix} is already up")
        return
    if namespaces(testbed) or link_exists(testbed.root_link):
        log(f"testbed {testbed.prefix}: cleaning up what an earlier run left")
        down(testbed, log)
    _check_mgmt_net_free(testbed)
    for kind, problem in testbed.unavailable.items():
        log(f"platform {kind} cannot be built here, its cells will fail: {problem}")
    began = time.monotonic()
    try:
        _build(testbed)
        state = {"sshd_pids": _start_sshds(testbed)}
        # Booted once the sshds' keys exist: their sshds run inside.
        for builder, module in BOOTERS.items():
            nodes = testbed.booted(builder)
            state[builder] = module.boot(testbed, nodes, log) if nodes else {}
    except BaseException:
        down(testbed, log)
        raise
    (testbed.state_dir / "state.json").write_text(json.dumps(state, indent=1))
    log(f"testbed {testbed.prefix} up in {time.monotonic() - began:.1f} s")


def _check_mgmt_net_free(testbed: Testbed) -> None:
    routes = run("ip", "-4", "route", "show", f"{testbed.mgmt_net}.0/24").stdout.strip()
    if routes:
        raise TestbedError(
            f"the management network {testbed.mgmt_net}.0/24 of testbed {testbed.prefix} is already "
            f"routed here ({routes}); run the testbed from another directory"
        )


def _build(testbed: Testbed) -> None:
    nodes = testbed.nodes
    for netns in sorted(testbed.all_netns):
        run("ip", "netns", "add", netns)
        ip_in(netns, "link", "set", "lo", "up")

    # Management: root <-> bridge in the mgmt namespace <-> every host.
    mgmt = testbed.mgmt_netns
    ip_in(mgmt, "link", "add", "br0", "address", _MGMT_BRIDGE_MAC, "type", "bridge")
    ip_in(mgmt, "link", "set", "br0", "up")
    ip_in(None, "link", "add", testbed.root_link, "type", "veth", "peer", "name", "root", "netns", mgmt)
    ip_in(None, "addr", "add", f"{testbed.mgmt_net}.1/24", "dev", testbed.root_link)
    ip_in(None, "link", "set", testbed.root_link, "up")
    ip_in(mgmt, "link", "set", "root", "master", "br0", "up")
    for node in filter(lab.has_netns, nodes):
        veth(testbed.netns(node), "mgmt0", mgmt, f"h-{node}")
        ip_in(mgmt, "link", "set", f"h-{node}", "master", "br0", "up")
        ip_in(testbed.netns(node), "addr", "add", f"{testbed.mgmt_address(node)}/24", "dev", "mgmt0")
        ip_in(testbed.netns(node), "link", "set", "mgmt0", "up")

    # The wire between the machines, on a bridge in each (dom0's bridge for the guests).
    veth(testbed.netns("a"), "wire", testbed.netns("b"), "wire")
    for host, guest in (("a", "ga"), ("b", "gb")):
        ns = testbed.netns(host)
        machine(ns, DATA_ADDRESS[host], lab.NODE[host].mac, testbed.link_rate)
        # Xen-style guest: a veth whose machine end is a port of the bridge.
        bridged_end(ns, "vg", "br0", testbed.netns(guest), DATA_ADDRESS[guest])
    # OpenVZ-style containers: each on a veth routed by its machine's kernel.
    datapaths.routed_pair(testbed, "openvz", "vc")
    for kind in testbed.built:
        if lab.PATH[kind].builder != "uml":  # booted once the sshds' keys exist (up)
            datapaths.build(testbed, kind)


# A bridge without an address of its own takes the lowest of its ports' and changes it when a
# lower one joins (a guest's tap, at boot): peers then hold a stale neighbour entry, and
# connections to the machine hang for seconds. Locally administered, fixed addresses (the
# machines' are in vnetbench.lab).
_MGMT_BRIDGE_MAC = "02:00:c6:13:00:01"


def _start_sshds(testbed: Testbed) -> dict[str, int]:
    generate_key(testbed.client_key, comment=f"vnetbench-{testbed.prefix}")
    known_hosts, processes = [], {}
    inside = {node for builder in BOOTERS for node in testbed.booted(builder)}
    for node in testbed.nodes:
        server = testbed.sshd(node)
        server.prepare()
        known_hosts.append(server.known_hosts_line())
        if node in inside:
            continue  # it runs inside the guest or sandbox (uml.boot, gvisor.boot)
        processes[node] = server.start(
            prefix=["ip", "netns", "exec", testbed.netns(node)], log=server.directory / "sshd.log"
        )
    testbed.known_hosts.write_text("".join(known_hosts))
    for node, process in processes.items():
        log = testbed.sshd(node).directory / "sshd.log"
        wait_listening(testbed.mgmt_address(node), 22, process=process, log=log)
    return {node: process.pid for node, process in processes.items()}


def down(testbed: Testbed, log=print) -> list[str]:
    """Stop every process in the instance's namespaces by pid, then delete them all."""
    done = []
    state = testbed.state_dir / "state.json"
    sandboxes = json.loads(state.read_text()).get("gvisor", {}) if state.exists() else {}
    for netns in namespaces(testbed):
        pids = [int(pid) for pid in run("ip", "netns", "pids", netns).stdout.split()]
        for pid in pids:
            kill_pid(pid)
        run("ip", "netns", "del", netns)
        done.append(f"{netns}: deleted" + (f", stopped pids {' '.join(map(str, pids))}" if pids else ""))
    # The root end of the management veth dies with its peer's namespace, asynchronously:
    # it may vanish between a check and a delete, so deleting it is allowed to find nothing.
    if link_exists(testbed.root_link):
        run("ip", "link", "del", testbed.root_link, check=False)
        done.append(f"{testbed.root_link}: deleted")
    if link_exists(testbed.root_link):
        raise TestbedError(f"could not delete {testbed.root_link}")
    # A gVisor sandbox's gofer runs outside the testbed's namespaces; it ends with its sandbox.
    for pid in gvisor.outliving_gofers(testbed, sandboxes):
        kill_pid(pid)
        done.append(f"gVisor gofer {pid}: stopped")
    gvisor.forget(testbed)
    for state in ("state.json", "guests.json"):
        (testbed.state_dir / state).unlink(missing_ok=True)  # guests died with their namespaces
    for stale in Path("/tmp").glob(f"vnetbench-netserver-{testbed.mgmt_net}.*.pid"):
        stale.unlink(missing_ok=True)  # their netservers were stopped with their namespaces
    for line in done:
        log(line)
    return done


def kill_pid(pid: int) -> None:
    """SIGTERM, then SIGKILL if it is still alive after a second; reaps our own children."""
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not is_alive(pid):
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def is_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # it was our child (an sshd started by this process), now reaped
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def inventory(testbed: Testbed) -> dict:
    """Hosts, addresses and ready-to-paste ssh command lines; when it is up, what each of
    today's data paths is made of (devices, MTU, offloads, netfilter rules)."""
    hosts = {}
    for node in [*testbed.nodes, *GUEST_MACHINE]:
        host = testbed.host(node, "", "")
        hosts[node] = {
            "what": lab.NODE[node].title + (" (booted by its first cell)" if node in GUEST_MACHINE else ""),
            "netns": testbed.netns(lab.NODE[node].machine or node),
            "ssh_address": f"{host.ssh_host}:{host.port}",
            "data_address": DATA_ADDRESS[node],
            "ssh": (
                f"ssh -i {testbed.client_key} -o UserKnownHostsFile={host.known_hosts} "
                f"-o StrictHostKeyChecking=yes -p {host.port} root@{host.ssh_host}"
            ),
        }
    return {
        "instance": testbed.prefix,
        "link_rate": testbed.link_rate or "unlimited",
        "management_network": f"{testbed.mgmt_net}.0/24 (root side: {testbed.root_link})",
        "platforms": {
            name: {"client": client, "server": server, "target": testbed.host(server, "server", name).address}
            for name, (client, server) in PLATFORM_NODES.items()
            if not lab.PATH[name].optional or name in testbed.built
        },
        "unavailable": testbed.unavailable,
        "hosts": hosts,
        "paths": {
            kind: uml.describe(testbed, lab.PATH[kind].ends)
            if lab.PATH[kind].builder == "uml"
            else datapaths.describe(testbed, kind)
            for kind in testbed.built
        }
        if is_up(testbed)
        else {},
    }
