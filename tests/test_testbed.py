"""The embedded testbed: real namespaces, veths, bridges, sshds and netperf."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vnetbench import cell, lifecycle, preflight, sshd, testbed
from vnetbench.config import load_experiment
from vnetbench.errors import VnetbenchError
from vnetbench.model import Cell, RunSettings

from .conftest import leftovers, tiny_config

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

EMBEDDED = {name: {"label": name, "embedded": name} for name in ("native", "openvz", "xen")}


def embedded_config(**overrides) -> dict:
    config = tiny_config(testbed="embedded", platforms=EMBEDDED)
    config.update(overrides)
    return config


def ip(netns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", netns, *args], capture_output=True, text=True, check=True).stdout


def test_each_platform_path_goes_where_it_claims(bed):
    a, b = bed.netns("a"), bed.netns("b")
    # native: machine to machine, directly over the wire (on each machine's bridge).
    assert "via" not in ip(a, "route", "get", "198.18.0.2")
    # Both machines hold the wire and the guest's veth on one bridge, not the container's.
    for machine in (a, b):
        ports = {
            line.split(":")[1].strip().split("@")[0]
            for line in ip(machine, "-o", "link", "show", "master", "br0").splitlines()
        }  # noqa: E501
        assert ports == {"wire", "vg"}
    # openvz: the container's traffic is routed by its machine, then by the peer machine.
    assert "via 198.18.1.1 dev eth0" in ip(bed.netns("ca"), "route", "get", "198.18.2.2")
    assert "via 198.18.0.2 dev br0" in ip(a, "route", "get", "198.18.2.2")
    assert "dev vc" in ip(b, "route", "get", "198.18.2.2")
    # xen: guest to guest on one layer-2 segment: no router between them.
    route = ip(bed.netns("ga"), "route", "get", "198.18.0.12")
    assert "via" not in route and "dev eth0" in route
    # The root namespace sees only its management link, nothing of the data network.
    root_routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    assert "198.18." not in root_routes
    assert f"{bed.mgmt_net}.0/24 dev {bed.root_link}" in root_routes


def test_up_is_idempotent(bed):
    state = json.loads((bed.state_dir / "state.json").read_text())
    testbed.up(bed, log=lambda line: None)
    assert json.loads((bed.state_dir / "state.json").read_text()) == state


def test_netperf_over_ssh_on_every_platform(bed, tmp_path):
    # Cells run here directly, without the calibration a workflow run makes: timed runs.
    experiment = load_experiment(embedded_config(run_length=None), workdir=str(tmp_path))
    report = preflight.run(experiment)  # starts netserver on every server, over SSH
    assert {facts["netperf_version"] for facts in report["hosts"].values()} == {"2.7.0"}
    settings = RunSettings(timeout_margin=5, retries=0)
    for name, platform in experiment.platforms.items():
        assert platform.client.ssh_host.startswith(bed.mgmt_net)  # reached by SSH like any host
        measurement = experiment.measurement(name, "TCP_RR", 1)
        record = cell.measure(
            Cell(name, "TCP_RR", 1, 1), platform, measurement, settings, log=lambda line: None
        )
        assert record["transactions_per_s"] > 100, name
        assert record["server_address"] == testbed.DATA_ADDRESS[testbed.PLATFORM_NODES[name][1]]


def test_link_rate_limits_the_wire(tmp_path):
    limited = testbed.for_workdir(tmp_path, link_rate="20mbit")
    testbed.up(limited, log=lambda line: None)
    try:
        b = limited.netns("b")
        subprocess.run(
            ["ip", "netns", "exec", b, "netserver", "-p", "12865"], capture_output=True, check=True
        )
        out = subprocess.run(
            ["ip", "netns", "exec", limited.netns("a"), "netperf", "-P", "0", "-H", "198.18.0.2", "-l", "1",
             "-t", "TCP_STREAM", "--", "-k", "THROUGHPUT"],  # fmt: skip
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        qdisc = subprocess.run(
            ["ip", "netns", "exec", limited.netns("a"), "tc", "qdisc", "show", "dev", "wire"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "tbf" in qdisc and "rate 20Mbit" in qdisc
        assert 5 < float(out.split("=")[1]) < 25  # Mbit/s, about the 20mbit asked for
    finally:
        testbed.down(limited, log=lambda line: None)
    assert leftovers(limited) == []


@pytest.mark.slow
def test_workflow_over_the_testbed_then_nothing_left(workflow):
    workflow.write_config(embedded_config())
    workflow.run()
    records = [json.loads(path.read_text()) for path in workflow.records()]
    assert {r["platform"] for r in records} == {"native", "openvz", "xen"}
    assert len(records) == 3 * 3 * 2
    assert all(r["client"].startswith("root@198.19.") for r in records)
    assert leftovers(testbed.for_workdir(workflow.directory)) == []
    assert workflow.planned() == {}


@pytest.mark.slow
def test_a_killed_run_is_cleaned_up_and_resumed(workflow):
    # One figure of one size: 9 cells, enough to kill the run mid-way and resume it.
    figures = {"tcp": {"test": "TCP_RR", "sizes": [1], "title": "TCP"}}
    workflow.write_config(embedded_config(repetitions=3, figures=figures, run_length=None))
    bed = testbed.for_workdir(workflow.directory)
    run = workflow.start()
    try:
        deadline = time.monotonic() + 60
        while len(workflow.records()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        # A hard crash: no hook runs, the testbed stays behind.
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        assert testbed.namespaces(bed)
        # The next run (after Snakemake's own `--unlock`, needed after any kill -9) cleans up
        # the stale testbed, builds a new one and measures only what is missing.
        workflow.run("--unlock")
        done = workflow.run()
        assert "cleaning up after an earlier run that did not end" in done.stderr
        assert len(workflow.records()) == 3 * 3
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        testbed.down(bed, log=lambda line: None)
    assert leftovers(bed) == []


def test_without_root_the_testbed_refuses_and_names_the_alternatives(monkeypatch, tmp_path):
    # Named fake: this process pretends not to be root (the tests run as root).
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(testbed.TestbedError) as refused:
        testbed.up(testbed.for_workdir(tmp_path))
    message = str(refused.value)
    assert "needs root" in message and "testbed: hosts" in message and "config/loopback.yaml" in message
    assert testbed.namespaces(testbed.for_workdir(tmp_path)) == []


def test_a_port_joining_a_bridge_does_not_change_its_address(bed):
    """As a guest's tap does at boot: with a changed address, the peer's neighbour entry goes
    stale and connections to the machine hang for seconds."""
    for machine in ("a", "b"):
        netns = bed.netns(machine)
        before = ip(netns, "-br", "link", "show", "br0").split()[2]
        # The lowest address there is: a bridge without its own address would take it.
        ip(netns, "link", "add", "low0", "type", "veth", "peer", "name", "low1")
        ip(netns, "link", "set", "low0", "address", "00:00:00:00:00:01")
        ip(netns, "link", "set", "low0", "master", "br0", "up")
        assert ip(netns, "-br", "link", "show", "br0").split()[2] == before


def test_an_sshd_that_does_not_start_stops_the_run_with_one_clear_error(tmp_path, monkeypatch):
    """Not a traceback from the onstart hook: a VnetbenchError naming what failed, with the
    server's own words, and nothing of the testbed left. The sshd is a named fake."""
    fake = tmp_path / "sshd"
    fake.write_text("#!/bin/sh\necho 'fake sshd: cannot bind: Address already in use' >&2\nexit 255\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sshd, "SSHD", str(fake))
    monkeypatch.chdir(tmp_path)
    experiment = load_experiment(embedded_config(), workdir=str(tmp_path))
    with pytest.raises(lifecycle.RunNotStarted) as failure:
        lifecycle.start(experiment, str(tmp_path / "preflight.json"))
    message = str(failure.value)
    assert isinstance(failure.value, VnetbenchError)
    assert "exited with code 255" in message and "cannot bind: Address already in use" in message
    assert message.endswith("Nothing was measured.")
    assert leftovers(experiment.testbed) == []


BENCH_HOLDING_A_LAB = """
import sys, time
sys.path.insert(0, {bench!r})
from common import embedded_testbed
with embedded_testbed(("native",)) as (experiment, _):
    print(experiment.testbed.state_dir.parents[1], flush=True)  # the workdir
    time.sleep(120)
"""


def test_a_benchmark_stopped_with_sigterm_leaves_no_lab_behind():
    """The benchmarks' embedded testbed (bench/common.py) is torn down on SIGTERM as on Ctrl-C."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    script = BENCH_HOLDING_A_LAB.format(bench=str(bench))
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        workdir = holder.stdout.readline().strip()
        assert workdir, "the benchmark's lab did not come up"
        bed = testbed.for_workdir(workdir)
        assert testbed.namespaces(bed)  # up, as the benchmark saw it
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=60) != 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    found = leftovers(bed)
    testbed.down(bed, log=lambda line: None)  # what a failing benchmark left, gone before the verdict
    assert found == []
    assert not Path(workdir).exists()
