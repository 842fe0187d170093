"""One cell, end to end, against a real netserver: locally and over a real sshd."""

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from vnetbench import blocks, cell, netserver
from vnetbench.config import load_experiment
from vnetbench.hosts import open_session
from vnetbench.model import Cell, Host, Platform, RunSettings, measurement_for
from vnetbench.records import config_snapshot_path, load, write_config_snapshot, write_json_atomic

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


def test_a_block_interleaves_its_cells_runs_and_a_failing_cell_fails_alone(netserver_port, tmp_path):
    broken_netperf = tmp_path / "broken-netperf"  # a named fake: a netperf that cannot reach its server
    broken_netperf.write_text(
        "#!/bin/sh\necho 'establish control: are you sure there is a netserver' >&2\nexit 1\n"
    )
    broken_netperf.chmod(0o755)
    server = local_platform(netserver_port).server
    platforms = [
        Platform(name, "loopback", Host(f"{name} client", "local", netperf=netperf), server)
        for name, netperf in (("native", "netperf"), ("broken", str(broken_netperf)), ("other", "netperf"))
    ]
    entries = []
    for platform in platforms:
        measurement = replace(measurement_for(platform, "TCP_RR", 64, 1), run_length=0.05, runs=3)
        session = open_session(platform.client)
        entries.append(cell.Entry(Cell(platform.name, "TCP_RR", 64, 1), platform, measurement, session, 200))
    outcome = cell.measure_block(entries, RunSettings(timeout_margin=5, retries=0))
    native, broken, other = (outcome[entry.cell] for entry in entries)
    assert isinstance(broken, cell.CellFailed) and broken.exit_code == 1
    assert "are you sure there is a netserver" in broken.output and str(broken_netperf) in broken.command
    # ABC CBA ACB...: the broken cell, failed in round 1, is left out of the later rounds.
    runs = sorted(
        (run["started_at"], run["finished_at"], name)
        for name, record in (("native", native), ("other", other))
        for run in record["runs"]
    )
    assert [name for _, _, name in runs] == ["native", "other", "other", "native", "native", "other"]
    assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False)), "runs overlapped"
    for record in (native, other):
        assert [run["transactions"] for run in record["runs"]] == [200, 200, 200]
        assert record["run"] == {"kind": "sized", "amount": 200, "target_s": 0.05, "runs": 3}
        # One text of every run's output, as a cell of one command keeps it.
        assert cell.split_runs(record["raw_output"], 3) == [run["raw_output"] for run in record["runs"]]
        assert record["started_at"] == record["runs"][0]["started_at"]
        assert record["finished_at"] == record["runs"][-1]["finished_at"]
        # The cell's rate: total work over total time (200 transactions per run).
        seconds = sum(run["transactions"] / run["transactions_per_s"] for run in record["runs"])
        assert record["transactions_per_s"] == pytest.approx(600 / seconds)


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


CLIENT = ROOT / "workflow" / "scripts" / "block_client.py"


def test_a_block_job_that_finds_no_service_measures_in_a_process_of_its_own(netserver_port, tmp_path):
    """As on a cluster node that cannot reach the submitting host: same code, own process, one
    block of two platforms, their runs interleaved, each cell its own typed record and log."""
    config = tiny_config(netserver_port, run_length=0.05, runs_per_cell=3)
    config["platforms"]["other"] = config["platforms"]["native"] | {"label": "Other (loopback)"}
    experiment = load_experiment(config)
    snapshot = config_snapshot_path(config, str(tmp_path / "snapshots"))
    write_config_snapshot(config, snapshot)
    outputs = [f"results/raw/{name}/TCP_RR/64/1.json" for name in ("native", "other")]
    measurements = blocks.measurements_param(experiment, ["native", "other"], "TCP_RR", 64)
    argv = [sys.executable, "-I", "-S", str(CLIENT), snapshot, measurements, *outputs, "--"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [load(str(tmp_path / output)) for output in outputs]
    for record, name in zip(records, ("native", "other"), strict=True):
        assert record.measured and record.cell == Cell(name, "TCP_RR", 64, 1)
        assert record.measurement == json.loads(measurements)[name]
        assert record.fields["transactions_per_s"] > 100 and len(record.fields["runs"]) == 3
        log = tmp_path / record.cell.log_path
        assert "measured by a process of its own: no service answered" in log.read_text()
    # One block: the runs alternate between the platforms (AB BA AB), never overlapping.
    runs = sorted(
        (run["started_at"], run["finished_at"], record.cell.platform)
        for record in records
        for run in record.fields["runs"]
    )
    first, second = runs[0][2], runs[1][2]
    assert first != second and [p for *_, p in runs] == [first, second, second, first, first, second]
    assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False))
    blocks_of = [record.fields["block"]["interleaved"]["platforms"] for record in records]
    assert blocks_of[0] == blocks_of[1]


def late_second_flow(path: Path, marks: Path, late_s: float, times: int) -> str:
    """A named fake around the real netperf: in each of the cell's first `times` attempts, its
    second flow starts `late_s` later (as a flow whose connection queued behind the others')."""
    marks.mkdir()
    path.write_text(
        "#!/bin/sh\n"
        f'n=0; until mkdir "{marks}/$n" 2>/dev/null; do n=$((n + 1)); done\n'
        f'if [ $((n % 2)) -eq 1 ] && [ "$n" -lt {2 * times} ]; then sleep {late_s}; fi\n'
        'exec netperf "$@"\n'
    )
    path.chmod(0o755)
    return str(path)


def test_flows_that_ran_apart_are_measured_again_at_once_and_the_attempt_kept(netserver_port, tmp_path):
    fake = late_second_flow(tmp_path / "netperf", tmp_path / "started", late_s=1.5, times=1)
    platform = local_platform(netserver_port)
    platform = replace(platform, client=replace(platform.client, netperf=fake))
    this = Cell("native", "TCP_STREAMx2", 65536, 1)
    lines = []
    record = run_cell(this, platform, SETTINGS, {}, str(tmp_path / "1.json"), log=lines.append)
    assert record["attempts"] == 2 and record["throughput_mbit_s"] > 0
    (apart,) = record["attempts_apart"]
    # Which flow the fake made late is the one that took the second start.
    assert re.match(r"the flows ran together 0\.00 s.* flow\d 1\.\d+-", apart["why"]), apart["why"]
    assert "vnetbench-job flow2 0" in apart["raw_output"] and apart["finished_at"] <= record["started_at"]
    assert any("measuring again" in line for line in lines)


def test_flows_apart_in_every_attempt_fail_the_cell_with_the_windows(netserver_port, tmp_path):
    fake = late_second_flow(tmp_path / "netperf", tmp_path / "started", late_s=1.5, times=9)
    platform = local_platform(netserver_port)
    platform = replace(platform, client=replace(platform.client, netperf=fake))
    with pytest.raises(cell.CellFailed, match=r"the flows ran together 0\.00 s.* flow\d 1\.\d+-"):
        run_cell(Cell("native", "TCP_STREAMx2", 65536, 1), platform, SETTINGS, {}, str(tmp_path / "1.json"))
    assert len(list((tmp_path / "started").iterdir())) == 2 * (SETTINGS.retries + 1)
