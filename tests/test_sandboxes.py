"""The gvisor and ebpf_routing platforms: gVisor sandboxes with their own network stack,
started with the testbed and reached over SSH like any host; routed containers whose machines
route with eBPF, with the counters that show their routing was bypassed; a platform the machine
cannot build named in one line while the others measure; nothing left after `down`."""

import json
import os
import platform
import subprocess

import pytest
from vnetbench import cell, ebpf, gvisor, testbed
from vnetbench.config import load_experiment
from vnetbench.model import Cell, RunSettings

from .conftest import lab_running, leftovers, tiny_config

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]
SETTINGS = RunSettings(timeout_margin=20, retries=0)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if gvisor.missing() or ebpf.missing():
        pytest.skip(gvisor.missing() or ebpf.missing())
    workdir = tmp_path_factory.mktemp("sandboxes")
    names = ("native", "openvz", "gvisor", "ebpf_routing")
    platforms = {name: {"label": name, "embedded": name} for name in names}
    # Timed runs: cells run here directly, without the calibration a workflow run makes.
    config = tiny_config(testbed="embedded", platforms=platforms, run_length=None)
    experiment = load_experiment(config, workdir=str(workdir))
    with lab_running(experiment):
        yield experiment
    state = str(experiment.testbed.state_dir)
    assert not [line for line in _processes() if "runsc" in line and state in line]


def _processes() -> list[str]:
    shown = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return shown.stdout.splitlines()


def _ssh(host, command: str) -> str:
    done = subprocess.run(
        ["ssh", "-i", host.key, "-o", f"UserKnownHostsFile={host.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", f"root@{host.ssh_host}", command],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _measure(experiment, name: str, counters=None) -> dict:
    return cell.measure(
        Cell(name, "TCP_RR", 1, 1), experiment.platforms[name], experiment.measurement(name, "TCP_RR", 1),
        SETTINGS, log=lambda line: None, counters=counters,
    )  # fmt: skip


def test_a_sandbox_answers_with_its_own_kernel_and_stack_and_carries_cells(lab):
    sandbox = lab.platforms["gvisor"]
    for host in (sandbox.client, sandbox.server):
        release, *_ = _ssh(host, "uname -r").splitlines()
        assert release != platform.release()  # the Sentry answers, not the host's kernel
    # Netstack took the namespace's devices: the host's kernel holds no address on them.
    shown = subprocess.run(["ip", "-n", lab.testbed.netns("sa"), "-j", "addr", "show", "dev", "eth0"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert not json.loads(shown)[0]["addr_info"]
    assert _measure(lab, "gvisor")["transactions_per_s"] > 0
    facts = testbed.inventory(lab.testbed)["paths"]["gvisor"]["gvisor"]
    assert facts["runsc_version"] and facts["platform"]
    assert all(s["boot_s"] > 0 and s["start"] for s in facts["sandboxes"].values())


def test_ebpf_routing_bypasses_the_machines_routing_and_the_records_show_it(lab):
    counters = testbed.path_counters(lab.testbed, "ebpf_routing")  # what the broker gives its cells
    assert testbed.path_counters(lab.testbed, "openvz") is None
    bypassed = _measure(lab, "ebpf_routing", counters)
    routed = _measure(lab, "openvz", counters)  # the same counters, on a path the kernel routes
    transactions = bypassed["transactions"]
    for machine in ("a", "b"):
        seen = bypassed["path_counters"][machine]
        # Every packet of the end came in by its veth and left by eBPF: none forwarded by the
        # kernel, none sent to the end by the veth (a few ARP replies at most).
        assert seen["veth_rx_packets"] >= transactions and seen["forwarded"] == 0
        assert seen["veth_tx_packets"] <= 10
        assert routed["path_counters"][machine]["forwarded"] >= routed["transactions"]
    facts = testbed.inventory(lab.testbed)["paths"]["ebpf_routing"]["ebpf"]
    programs = facts["programs"]
    assert programs["to_wire"]["source_sha256"] and all(programs["to_end"]["objects_sha256"].values())


def test_a_platform_the_machine_cannot_build_is_named_and_the_others_measure(workflow, tmp_path):
    """runsc hidden (a file that is not executable mounted over it, in a mount namespace of the
    run's own): one line names what is missing at the start, gvisor's cells fail with it, and
    native's are measured."""
    if gvisor.missing():
        pytest.skip(gvisor.MISSING)
    platforms = {name: {"label": name, "embedded": name} for name in ("native", "gvisor")}
    config = tiny_config(testbed="embedded", platforms=platforms)
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1], "title": "TCP"}}
    workflow.write_config(config)
    hidden = tmp_path / "not-runsc"
    hidden.write_text("")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(hidden),
         gvisor.runsc(), workflow.snakemake, "--cores", "1"],
        cwd=workflow.directory, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    said = [line for line in done.stderr.splitlines() if gvisor.MISSING in line]
    expected = "vnetbench: platform gvisor cannot be built here, its cells will fail: "
    assert said[0] == expected + gvisor.MISSING
    assert "4 cells: 2 done, 2 failed" in done.stderr
    log = (workflow.directory / "results/logs/cells/gvisor/TCP_RR/1/1.log").read_text()
    assert "platform gvisor was not built on this machine" in log and gvisor.MISSING in log
    assert leftovers(testbed.for_workdir(workflow.directory)) == []
