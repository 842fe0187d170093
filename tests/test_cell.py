"""One cell, end to end, against a real netserver: locally and over a real sshd."""

import json
from pathlib import Path

import pytest
from vnetbench import cell, netserver
from vnetbench.config import Cell, Platform
from vnetbench.hosts import Host, open_session

from .conftest import free_port

SETTINGS = cell.Settings(duration=1, timeout_margin=5, retries=1)


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
    record = cell.run(
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
    record = cell.run(Cell("native", "UDP_RR", 16, 1), platform, SETTINGS, {}, str(tmp_path / "r.json"))
    assert record["client"] == f"root@127.0.0.1:{spec['port']}"
    assert record["transactions_per_s"] > 100


def test_cell_starts_a_missing_netserver(tmp_path):
    platform = local_platform(free_port())
    server = platform.server
    session = open_session(server)
    try:
        logged = []
        record = cell.run(
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
    no_retry = cell.Settings(duration=1, timeout_margin=5, retries=0)
    output = tmp_path / "r.json"
    with pytest.raises(cell.CellFailed) as failure:
        cell.run(Cell("native", "TCP_RR", 1, 1), platform, no_retry, {}, str(output))
    text = str(failure.value)
    assert "exit code: 255" in text and "command: timeout -s KILL" in text and "establish control" in text
    assert not output.exists() and list(tmp_path.iterdir()) == []
