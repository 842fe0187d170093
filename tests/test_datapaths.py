"""Today's data paths on the embedded testbed: each built from real kernel devices (or refused,
naming what the kernel lacks), each carrying real netperf cells over SSH, its counters showing
that the traffic took it, and all of it gone after `down`."""

import json
import os
import subprocess
from dataclasses import replace

import pytest
from vnetbench import cell, datapaths, testbed
from vnetbench.config import ConfigError, load_experiment
from vnetbench.model import Cell, RunSettings

from .conftest import lab_running, leftovers, tiny_config

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]


def kernel_can_make(kind: str) -> bool:
    """Whether this kernel makes `kind` devices: one stacked on a veth (ipvlan refuses lo), in
    a namespace of our own."""
    ns = f"vnbprobe{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(
            ["ip", "-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1"], check=True
        )
        link = ["ip", "-n", ns, "link", "add", "s0", "link", "p0", "type", kind]
        return subprocess.run(link, capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


# Today's data paths of config/datapaths.yaml (the gvisor and ebpf_routing platforms, which
# datapaths also builds, have tests of their own: test_sandboxes).
TODAYS = [kind for kind in datapaths.PATHS if kind not in ("gvisor", "ebpf_routing")]
BUILDABLE = [kind for kind in TODAYS if kind != "ipvlan" or kernel_can_make("ipvlan")]


def path_config(kinds) -> dict:
    platforms = {name: {"label": name, "embedded": name} for name in ("native", *kinds)}
    return tiny_config(testbed="embedded", platforms=platforms)


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """native and every path this kernel can build, up, with netserver on every server."""
    workdir = tmp_path_factory.mktemp("paths")
    experiment = load_experiment(path_config(BUILDABLE), workdir=str(workdir))
    bed = experiment.testbed
    try:
        with lab_running(experiment):
            yield experiment
    finally:
        # wireguard-go runs as `wireguard-go -f DEVICE`, its control socket named after DEVICE.
        for host in "ab":
            device = datapaths.wireguard_device(bed, host)
            assert subprocess.run(["pgrep", "-f", f"wireguard-go -f {device}"]).returncode == 1, device
            assert not os.path.exists(f"/var/run/wireguard/{device}.sock"), device


def inside(bed, node: str, *argv: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", bed.netns(node), *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def link(bed, node: str, device: str) -> dict:
    return json.loads(inside(bed, node, "ip", "-s", "-d", "-j", "link", "show", device))[0]


def nat_counter(bed, rule: str) -> int:
    """Packets counted by the rules of bridge_nat's machine B whose expressions include `rule`
    ("dnat": the first packet of every connection translated; "ct": forwarded established ones)."""
    rules = json.loads(inside(bed, "nb", "nft", "-j", "list", "ruleset"))["nftables"]
    total = 0
    for item in rules:
        exprs = item.get("rule", {}).get("expr", [])
        if f'"{rule}"' in json.dumps(exprs):
            total += sum(e["counter"]["packets"] for e in exprs if "counter" in e)
    return total


def wireguard_received(bed) -> int:
    transfer = inside(bed, "b", "wg", "show", datapaths.wireguard_device(bed, "b"), "transfer").split()
    return int(transfer[1])


# What proves that a path carried a cell: a counter only its traffic moves.
COUNTER = {
    "bridge_nat": lambda bed: nat_counter(bed, "ct"),
    "macvlan": lambda bed: link(bed, "mb", "eth0")["stats64"]["rx"]["packets"],
    "ipvlan": lambda bed: link(bed, "ib", "eth0")["stats64"]["rx"]["packets"],
    "vxlan": lambda bed: link(bed, "b", "vx0")["stats64"]["rx"]["packets"],
    "wireguard": wireguard_received,
}


@pytest.mark.parametrize("kind", BUILDABLE)
@pytest.mark.parametrize("test", ["TCP_RR", "TCP_CRR", "UDP_RR", "TCP_STREAM", "UDP_STREAM"])
def test_a_cell_on_each_path_takes_that_path(paths, kind, test):
    bed, platform = paths.testbed, paths.platforms[kind]
    size = 1024 if "STREAM" in test else 64
    before, connections = COUNTER[kind](bed), nat_counter(bed, "dnat") if kind == "bridge_nat" else 0
    # Sized runs of a fixed amount (a few hundredths of a second), but UDP_STREAM's: timed.
    amount = None if test == "UDP_STREAM" else (500 if "RR" in test else 4 << 20)
    measurement = replace(paths.measurement(kind, test, size), run_length=amount and 0.05)
    record = cell.measure(
        Cell(kind, test, size, 1), platform, measurement, RunSettings(timeout_margin=10, retries=0),
        log=lambda line: None, amount=amount,
    )  # fmt: skip
    assert record["throughput_mbit_s"] > 0
    if test in ("TCP_RR", "TCP_CRR", "UDP_RR"):
        assert record["transactions_per_s"] > 50
    if test == "UDP_STREAM":
        assert record["send_throughput_mbit_s"] >= record["throughput_mbit_s"] * 0.99
        assert record["datagrams_sent"] >= record["datagrams_received"] > 0
    moved = COUNTER[kind](bed) - before
    assert moved > 10, f"{kind} {test}: its counter moved by {moved}"
    if kind == "bridge_nat":
        # Every connection was translated: control and data; for TCP_CRR, one per transaction.
        translated = nat_counter(bed, "dnat") - connections
        assert translated >= (record["transactions"] if test == "TCP_CRR" else 2), translated


def test_each_path_is_what_it_claims(paths):
    bed = paths.testbed
    # bridge_nat: the client dials B's published ports; netserver listens in the container.
    nat = paths.platforms["bridge_nat"].server
    assert (nat.address, nat.netserver_port, nat.data_port) == (datapaths.NAT_B, 12866, 12867)
    assert nat.listen_address == "198.18.12.2"
    assert "-P ,12867" in " ".join(cell.command(paths.measurement("bridge_nat", "TCP_RR", 1), RunSettings()))
    assert "via 198.18.11.1" in inside(bed, "nca", "ip", "route", "get", datapaths.NAT_B)
    # Its machines are its own: NAT's conntrack is nowhere on machines A and B.
    assert "table" not in inside(bed, "a", "nft", "list", "ruleset")
    # macvlan: a macvlan device in bridge mode on machine A's uplink (its bridge).
    mv = link(bed, "ma", "eth0")
    assert mv["linkinfo"]["info_kind"] == "macvlan" and mv["linkinfo"]["info_data"]["mode"] == "bridge"
    # vxlan: VNI 42 between the machines' wire addresses; the endpoints' MTU leaves room for it.
    vx = link(bed, "a", "vx0")["linkinfo"]["info_data"]
    assert (vx["id"], vx["local"], vx["remote"], vx["port"]) == (42, "198.18.0.1", "198.18.0.2", 4789)
    assert link(bed, "oa", "eth0")["mtu"] == datapaths.VXLAN_MTU
    # wireguard: the endpoints route into the tunnel, which has its peer's key and endpoint.
    tunnel = datapaths.wireguard_device(bed, "a")
    assert f"dev {tunnel}" in inside(bed, "a", "ip", "route", "get", "198.18.16.2")
    assert "198.18.0.2:51820" in inside(bed, "a", "wg", "show", tunnel, "endpoints")
    assert link(bed, "wa", "eth0")["mtu"] == datapaths.WIREGUARD_MTU
    # Provenance: what each path is made of.
    facts = testbed.inventory(bed)["paths"]
    assert "masquerade" in facts["bridge_nat"]["netfilter"]["na"]
    assert "dnat to 198.18.12.2" in facts["bridge_nat"]["netfilter"]["nb"]
    kinds = {(d["node"], d["device"]): d for d in facts["vxlan"]["devices"]}
    assert kinds["a", "vx0"]["kind"] == "vxlan" and kinds["a", "vx0"]["mtu"] == 1450
    assert facts["wireguard"]["wireguard"].startswith(("kernel", "wireguard-go"))
    if facts["wireguard"]["wireguard"].startswith("wireguard-go"):
        # Its UDP sockets' buffers raised as upstream's wireguard-go raises them (the kernel
        # doubles what is asked): Debian 12's left 208 KiB, which overflowed under 8 flows.
        for machine in "ab":
            buffers = facts["wireguard"]["wireguard_go_receive_buffers"][machine]
            assert buffers and all(b == 2 * datapaths.WIREGUARD_GO_BUFFER for b in buffers), buffers
    assert testbed.inventory(bed)["platforms"]["bridge_nat"]["target"] == datapaths.NAT_B


@pytest.mark.skipif(kernel_can_make("ipvlan"), reason="this kernel makes ipvlan devices")
def test_a_kernel_without_ipvlan_is_named_and_nothing_is_left(tmp_path):
    assert kernel_can_make("macvlan")  # the probe works: what it says of ipvlan is the kernel's
    bed = testbed.for_workdir(tmp_path, paths=("ipvlan",))
    with pytest.raises(
        testbed.TestbedError, match=r"the ipvlan platform needs ipvlan devices.*CONFIG_IPVLAN"
    ):
        testbed.up(bed, log=lambda line: None)
    assert leftovers(bed) == []


def test_a_bad_kind_is_refused_naming_the_choices(tmp_path):
    config = path_config(["calico"])
    with pytest.raises(
        ConfigError, match="platforms.calico.embedded: .*bridge_nat, macvlan, ipvlan, vxlan, wireguard"
    ):
        load_experiment(config, workdir=str(tmp_path))
