"""One cell, end to end, against a real netserver: locally and over a real sshd."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from vnetbench import cell, netserver
from vnetbench.config import load_experiment
from vnetbench.hosts import open_session
from vnetbench.model import Cell, Host, Platform, RunSettings, measurement_for
from vnetbench.records import config_snapshot, write_json_atomic

from .conftest import ROOT, free_port, tiny_config

SETTINGS = RunSettings(timeout_margin=5, retries=1)


def run_cell(this: Cell, platform: Platform, settings: RunSettings, facts: dict, output: str, log=print):
    """A one-second run of `this`, its record written as a cell job writes it."""
    measurement = measurement_for(platform, this.test, this.size_bytes, 1)
    record = cell.measure(this, platform, measurement, settings, log, hosts_facts=facts)
    write_json_atomic(output, record)
    return record


def local_platform(port: int) -> Platform:
    return Platform(
        "native",
        "loopback",
        Host("native client", "local"),
        Host("native server", "local", address="127.0.0.1", netserver_port=port),
    )


def test_local_cell_writes_a_complete_record(netserver_port, tmp_path):
    output = tmp_path / "raw" / "1.json"
    facts = {"native client": {"kernel": "k1"}, "native server": {"kernel": "k2"}}
    record = run_cell(
        Cell("native", "TCP_RR", 64, 1), local_platform(netserver_port), SETTINGS, facts, str(output)
    )
    on_disk = json.loads(output.read_text())
    assert on_disk == record
    assert record["transactions_per_s"] > 100
    assert record["throughput_mbit_s"] == pytest.approx(record["transactions_per_s"] * 128 * 8 / 1e6)
    assert record["transactions"] > 100
    assert record["started_at"] < record["finished_at"]
    assert record["command"].startswith("timeout -s KILL 6 netperf ")
    assert "TRANSACTION_RATE=" in record["raw_output"]
    assert record["client_facts"] == {"kernel": "k1"} and record["server_facts"] == {"kernel": "k2"}
    assert [p.name for p in output.parent.iterdir()] == ["1.json"]  # no temporary file left


def test_cell_over_ssh(sshd, netserver_port, tmp_path):
    spec = sshd.host_spec()
    client = Host(
        "native client", "127.0.0.1", port=spec["port"], key=spec["key"], known_hosts=spec["known_hosts"]
    )
    platform = Platform("native", "ssh", client, local_platform(netserver_port).server)
    record = run_cell(Cell("native", "UDP_RR", 16, 1), platform, SETTINGS, {}, str(tmp_path / "r.json"))
    assert record["client"] == f"root@127.0.0.1:{spec['port']}"
    assert record["transactions_per_s"] > 100


def test_cell_starts_a_missing_netserver(tmp_path):
    platform = local_platform(free_port())
    server = platform.server
    session = open_session(server)
    try:
        logged = []
        record = run_cell(
            Cell("native", "TCP_RR", 1, 1), platform, SETTINGS, {}, str(tmp_path / "r.json"), logged.append
        )
        assert record["attempts"] == 2
        assert any(line.startswith("started ") for line in logged)
        pid = int(Path(netserver.pidfile(server)).read_text())
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "netserver"
    finally:
        assert netserver.stop(session, server).startswith("stopped")
    assert not Path(netserver.pidfile(server)).exists()


def test_failed_cell_writes_nothing_and_carries_the_evidence(tmp_path):
    platform = local_platform(free_port())
    no_retry = RunSettings(timeout_margin=5, retries=0)
    output = tmp_path / "r.json"
    with pytest.raises(cell.CellFailed) as failure:
        run_cell(Cell("native", "TCP_RR", 1, 1), platform, no_retry, {}, str(output))
    text = str(failure.value)
    assert "exit code: 255" in text and "command: timeout -s KILL" in text and "establish control" in text
    assert not output.exists() and list(tmp_path.iterdir()) == []


CLIENT = ROOT / "workflow" / "scripts" / "cell_client.py"


def test_a_cell_job_that_finds_no_broker_measures_in_a_process_of_its_own(netserver_port, tmp_path):
    """As on a cluster node that cannot reach the submitting host: same code, own process."""
    config = tiny_config(netserver_port)
    experiment = load_experiment(config)
    snapshot = config_snapshot(config, str(tmp_path / "snapshots"))
    output, log = tmp_path / "raw" / "1.json", tmp_path / "1.log"
    output.parent.mkdir()
    measurement = experiment.measurement("native", "TCP_RR", 64).as_params()
    argv = [sys.executable, "-I", "-S", str(CLIENT), str(output), str(log), "native", "TCP_RR", "64", "1"]
    argv += [repr(measurement), "results/preflight.json", snapshot]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    record = json.loads(output.read_text())
    assert record["transactions_per_s"] > 100 and record["size_bytes"] == 64 and record["rep"] == 1
    assert "measured by a process of its own: no broker answered" in log.read_text()
