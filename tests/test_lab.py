"""The lab's topology as data (vnetbench.lab): checked as a table, before anything is built."""

import ipaddress

from vnetbench import datapaths, lab, testbed

BENCHMARKING = ipaddress.ip_network("198.18.0.0/15")


def test_every_node_is_in_the_benchmarking_range_and_reachable_once():
    addresses = [node.address for node in lab.NODES]
    assert all(ipaddress.ip_address(a) in BENCHMARKING for a in addresses)
    assert len(set(addresses)) == len(addresses)
    hosts = [node.mgmt for node in lab.NODES if node.mgmt is not None]
    assert len(set(hosts)) == len(hosts) and all(2 <= h <= 254 for h in hosts)
    names = [node.name for node in lab.NODES]
    assert len(set(names)) == len(names) and lab.MGMT_NODE not in names
    # A QEMU guest runs in a machine of the lab, which has a fixed bridge address.
    assert all(lab.NODE[node.machine].mac for node in lab.NODES if node.machine)


def test_every_path_is_a_row_its_builder_and_the_testbed_can_use():
    for path in lab.PATHS:
        client, server = path.ends
        assert client in lab.NODE and server in lab.NODE and all(m in lab.NODE for m in path.machines)
        for key in ("address", "listen_address"):
            if key in path.server_as_seen:
                assert ipaddress.ip_address(path.server_as_seen[key]) in BENCHMARKING
    # Every optional path is built by a builder of vnetbench.datapaths, named in its row, but the
    # User-mode Linux guests, which boot (vnetbench.uml).
    built_here = {"bridge_nat", "macvlan", "ipvlan", "vxlan", "wireguard", "gvisor", "ebpf_routing"}
    assert set(datapaths.PATHS) == built_here
    assert set(lab.OPTIONAL) == {*datapaths.PATHS, "uml"}
    bed = testbed.for_workdir("/nonexistent", None, lab.OPTIONAL)
    # The testbed's hosts are every path's ends with an sshd, but those of a path this machine
    # cannot build (named, with what it lacks); each a namespace, but a UML guest, which runs in
    # its machine's; the paths' own machines are namespaces too.
    built = [p for p in lab.PATHS if p.kind not in bed.unavailable]
    assert set(bed.built) == set(lab.OPTIONAL) - set(bed.unavailable)
    assert set(bed.nodes) == {n for p in built for n in p.ends if lab.NODE[n].mgmt is not None}
    if "uml" in bed.built:
        assert bed.uml_guests == ["ua", "ub"]
    assert not {bed.netns(g) for g in bed.uml_guests} & bed.all_netns
    # gVisor's sandboxes run their sshd inside, in namespaces of their own.
    if "gvisor" in bed.built:
        assert bed.booted("gvisor") == ["sa", "sb"] and {bed.netns("sa"), bed.netns("sb")} <= bed.all_netns
    assert {bed.netns(m) for m in ("na", "nb")} <= bed.all_netns
    # A measurement is tied to its node's title, which a row change must not move.
    assert bed.host("a", "client", "native").measured_as == "embedded machine A"
    nat = bed.host("ncb", "server", "bridge_nat")
    assert (nat.address, nat.listen_address, nat.netserver_port) == (lab.NAT_B, "198.18.12.2", 12866)
