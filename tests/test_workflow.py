"""The whole workflow, run by the real Snakemake against real netperf on loopback."""

import json
from pathlib import Path

import pandas as pd
import pytest

from .conftest import cell_jobs, free_port, pids_of, tiny_config

pytestmark = pytest.mark.slow


def test_tiny_grid_end_to_end(workflow):
    config = tiny_config()
    port = config["platforms"]["native"]["server"]["netserver_port"]
    workflow.write_config(config)
    workflow.run()
    results = workflow.directory / "results"
    assert len(workflow.records()) == 6
    # The lean path: every cell was measured by the run's broker, over a kept connection.
    for log in (workflow.directory / "results" / "logs" / "cells").rglob("*.log"):
        assert "measured by the run's broker" in log.read_text()
    for figure in ("tcp_small", "udp_small"):
        assert (results / "figures" / f"{figure}.pdf").read_bytes().startswith(b"%PDF")
    table = pd.read_csv(results / "figures" / "tcp_small.csv")
    assert list(table.columns)[:14] == [
        "figure", "platform", "label", "test", "size_bytes", "metric", "unit",
        "n", "mean", "std", "cv", "median", "min", "max",
    ]  # fmt: skip
    assert len(table) == 2 * 2  # 2 sizes x 2 metrics
    assert set(table["n"]) == {2}
    assert (table["min"] <= table["median"]).all() and (table["median"] <= table["max"]).all()
    preflight = json.loads((results / "preflight.json").read_text())
    assert preflight["hosts"]["native server"]["netserver_version"] == "2.7.0"
    # The run cleans up after itself: no netserver, no run-scoped files.
    assert not (workflow.directory / ".vnetbench" / "run.json").exists()  # the run ended
    assert not Path(f"/tmp/vnetbench-netserver-local-127.0.0.1-{port}.pid").exists()
    assert not pids_of("netserver", port)
    # Everything exists: a second run does nothing.
    assert workflow.planned() == {}
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["hosts"]["native client"]["kernel"] and len(provenance["config_sha256"]) == 64
    assert provenance["run_order"] == {"order": "shuffled", "seed": 1, "warmup": False}
    assert (results / "paper_comparison.md").read_text().startswith("# Our results beside the paper's")
    # Snakemake's own report builds, with the figures in it.
    workflow.run("--report", "results/report.html")
    report = (results / "report.html").read_text()
    assert "tcp_small" in report and "Statistics and flags" in report


def test_only_missing_or_changed_cells_rerun(workflow):
    config = tiny_config()
    workflow.write_config(config)
    workflow.run()
    records = workflow.records()
    before = {path: path.stat().st_mtime_ns for path in records}

    records[0].unlink()
    records[3].unlink()
    assert workflow.planned().get("cell") == 2

    done = workflow.run()
    assert cell_jobs(done) == 2
    unchanged = [p for p in records if p not in (records[0], records[3])]
    assert all(p.stat().st_mtime_ns == before[p] for p in unchanged)

    # Titles, labels and retries change figures, never measurements.
    config["figures"]["tcp_small"]["title"] = "A new title"
    config["platforms"]["native"]["label"] = "A new label"
    config["retries"] = 5
    workflow.write_config(config)
    planned = workflow.planned()
    assert "cell" not in planned and planned.get("plot") == 2

    # Editing a script never reruns a cell either (no "code" rerun trigger).
    script = workflow.directory / "workflow" / "scripts" / "cell_client.py"
    script.write_text(script.read_text() + "\n# edited\n")
    assert "cell" not in workflow.planned()

    # Changing what is measured reruns exactly the cells concerned.
    config["figures"]["udp_small"]["sizes"] = [16, 32]
    workflow.write_config(config)
    assert workflow.planned().get("cell") == 2
    config["duration"] = 2
    workflow.write_config(config)
    assert workflow.planned().get("cell") == 8


FLAKY_NETPERF = """#!/bin/sh
# A named fake around the real netperf: while {marker} exists, a 64-byte
# TCP_RR prints garbage instead of measuring.
case " $* " in
  *" TCP_RR "*" -r 64,64 "*) if [ -e {marker} ]; then echo 'garbage #@!'; exit 0; fi ;;
esac
exec netperf "$@"
"""


def test_failing_cell_does_not_stop_the_others_and_reruns_alone(workflow, tmp_path):
    marker = tmp_path / "break-64"
    wrapper = tmp_path / "flaky-netperf"
    wrapper.write_text(FLAKY_NETPERF.format(marker=marker))
    wrapper.chmod(0o755)
    marker.touch()
    config = tiny_config()
    config["platforms"]["native"]["client"]["netperf"] = str(wrapper)
    workflow.write_config(config)

    done = workflow.run(check=False)
    assert done.returncode != 0
    assert len(workflow.records()) == 4  # every cell but the two 64-byte repetitions
    log = workflow.directory / "results/logs/cells/native/TCP_RR/64/1.log"
    assert "garbage #@!" in log.read_text()  # the output is in the log
    assert not (workflow.directory / "results/raw/native/TCP_RR/64").exists()

    marker.unlink()
    done = workflow.run()
    assert cell_jobs(done) == 2
    assert len(workflow.records()) == 6


def test_cells_never_overlap_run_rep_major_and_warm_up(workflow):
    workflow.write_config(tiny_config(repetitions=3, warmup=True))
    done = workflow.run("--cores", "8")
    records = sorted(
        (json.loads(path.read_text()) for path in workflow.records()), key=lambda r: r["started_at"]
    )
    assert len(records) == 9  # the warm-ups are not recorded
    assert "warm-up: native TCP_RR (not recorded)" in done.stderr
    for earlier, later in zip(records, records[1:], strict=False):
        assert earlier["finished_at"] <= later["started_at"], "cells overlapped"
    # Repetition-major: every configuration's repetition 1 before any repetition 2.
    assert [r["rep"] for r in records] == sorted(r["rep"] for r in records)
    assert {(r["run_order"], r["run_order_seed"]) for r in records} == {("shuffled", 1)}


def test_bad_config_stops_before_anything_runs(workflow):
    config = tiny_config()
    config["figures"]["udp_small"]["sizes"] = ["64K"]
    workflow.write_config(config)
    sentinel = workflow.directory / "results" / "keep.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("earlier result")
    done = workflow.run(check=False)
    assert done.returncode != 0
    assert "figures.udp_small.sizes[0]" in done.stderr and "at most 65507 bytes" in done.stderr
    assert [p.name for p in sentinel.parent.iterdir()] == ["keep.txt"]
    assert sentinel.read_text() == "earlier result"


def test_port_in_use_is_reported_by_preflight(workflow):
    config = tiny_config()
    port = free_port()
    config["platforms"]["native"]["server"]["netserver_port"] = port
    workflow.write_config(config)
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        done = workflow.run(check=False)
    assert done.returncode != 0
    assert "preflight found" in done.stderr
    assert workflow.records() == []
