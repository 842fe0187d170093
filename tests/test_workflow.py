"""The whole workflow, run by the real Snakemake against real netperf on loopback."""

import json
from pathlib import Path

import pandas as pd
import pytest
from vnetbench.records import load

from .conftest import Workflow, cell_jobs, free_port, pids_of, tiny_config

pytestmark = pytest.mark.slow


def test_tiny_grid_end_to_end(workflow):
    config = tiny_config()
    port = config["platforms"]["native"]["server"]["netserver_port"]
    workflow.write_config(config)
    workflow.run()
    results = workflow.directory / "results"
    assert len(workflow.records()) == 6
    # The lean path: every cell was measured by the run's service, over a kept connection.
    for log in (workflow.directory / "results" / "logs" / "cells").rglob("*.log"):
        assert "measured by the run's service" in log.read_text()
    for figure in ("tcp_small", "udp_small"):
        assert (results / "figures" / f"{figure}.pdf").read_bytes().startswith(b"%PDF")
        # Native alone: no ratio to native to draw (each would be 1 by definition).
        assert not list((results / "figures").glob(f"{figure}_vs_*"))
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
    # The workflow's jobs ran its own package, not a copy installed elsewhere (the virtualenv's).
    assert provenance["vnetbench_package"] == str(workflow.directory / "workflow" / "scripts" / "vnetbench")
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
    assert workflow.planned().get("block") == 2

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
    assert "block" not in planned and planned.get("plot") == 2

    # Editing a script never reruns a cell either (no "code" rerun trigger).
    script = workflow.directory / "workflow" / "scripts" / "block_client.py"
    script.write_text(script.read_text() + "\n# edited\n")
    assert "block" not in workflow.planned()

    # Changing what is measured reruns exactly the cells concerned.
    config["figures"]["udp_small"]["sizes"] = [16, 32]
    workflow.write_config(config)
    assert workflow.planned().get("block") == 2
    config["duration"] = 2
    workflow.write_config(config)
    assert workflow.planned().get("block") == 8


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
    # Their records say they failed, with no measurement; the figures were drawn from the others.
    assert [p.parent.name for p in workflow.failed()] == ["64", "64"]
    assert {load(str(p)).status for p in workflow.failed()} == {"failed"}
    assert "vnetbench: 6 cells: 4 done, 2 failed, 0 not yet run" in done.stderr
    table = pd.read_csv(workflow.directory / "results/figures/tcp_small.csv")
    lost = table[table["size_bytes"] == 64]
    assert set(lost["n"]) == {0} and set(lost["missing"]) == {2} and set(lost["flags"]) == {"missing:1,2"}
    assert set(table[table["size_bytes"] == 1]["n"]) == {2}

    # Parsing the workflow changes nothing: a dry run, --list and --lint leave every file as
    # it was (the failed cells' records included), and retrying is the explicit step.
    before = files_of(workflow.directory)
    for args in (["-n", "figures"], ["--list"], ["--lint"], ["-n", "--forceall"]):
        workflow.run(*args, check=args[0] != "--lint")
    assert files_of(workflow.directory) == before

    marker.unlink()
    prepared = workflow.prepare()
    assert "2 cells failed in an earlier run; their blocks run again" in prepared.stderr
    assert len(list((workflow.directory / "results" / "replaced").rglob("*.json"))) == 2
    done = workflow.run()
    assert cell_jobs(done) == 2
    assert len(workflow.records()) == 6 and not workflow.failed()
    table = pd.read_csv(workflow.directory / "results/figures/tcp_small.csv")
    assert set(table["n"]) == {2} and set(table["missing"]) == {0}


def files_of(directory) -> dict:
    """Every file under `directory` and its content, but Snakemake's own logs and cache."""
    return {
        path: path.read_bytes()
        for path in directory.rglob("*")
        # Snakemake's own logs and file cache, not the workflow's doing.
        if path.is_file() and not any(part in str(path) for part in (".snakemake/log", ".snakemake/iocache"))
    }


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


def two_loopback_platforms(**overrides) -> dict:
    config = tiny_config(**overrides)
    config["platforms"]["other"] = {**config["platforms"]["native"], "label": "Loopback again"}
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1, 64], "title": "TCP"}}
    return config


def test_precision_rounds_add_repetitions_where_needed_in_blocks_and_cache(workflow):
    # Targets no measurement meets, never given up: every configuration goes to its maximum,
    # 2 -> 4 -> (5).
    precision = {"target": 1e-6, "value_target": 1e-6, "min_repetitions": 2, "max_repetitions": 4}
    precision["give_up_beyond"] = None
    config = two_loopback_platforms(precision=precision, run_length=0.05, runs_per_cell=3)
    del config["repetitions"]
    workflow.write_config(config)
    done = workflow.run()
    assert "precision round 1 (8 cells)" in done.stderr and "round 2 adds 8 cells in 4 blocks" in done.stderr
    assert "precision round 2 (16 cells)" in done.stderr and "no round follows" in done.stderr
    assert "precision reached in 0 of 4 configurations" in done.stderr
    assert "  other: means 0 of 2, ratios 0 of 2; 4 repetitions" in done.stderr
    records = sorted((json.loads(p.read_text()) for p in workflow.records()), key=lambda r: r["started_at"])
    assert len(records) == 16
    # Blocks: the two platforms of one (size, rep) back to back, repetition-major.
    for a, b in zip(records[::2], records[1::2], strict=True):
        assert (a["size_bytes"], a["rep"]) == (b["size_bytes"], b["rep"]) and a["platform"] != b["platform"]
        assert a["block"]["platform_order"] == [a["platform"], b["platform"]]
        # Measured together in one job, their runs interleaved (AB BA AB), by one request.
        interleaved = {"platforms": [a["platform"], b["platform"]]}
        assert a["block"]["interleaved"] == b["block"]["interleaved"] == interleaved
        assert a["job"] == b["job"]
        runs = sorted((run["started_at"], name) for name, r in (("a", a), ("b", b)) for run in r["runs"])
        assert [name for _, name in runs] == ["a", "b", "b", "a", "a", "b"]
    assert [r["rep"] for r in records] == sorted(r["rep"] for r in records)
    table = pd.read_csv(workflow.directory / "results" / "figures" / "tcp.csv")
    assert set(table["n"]) == {4} and table["flags"].str.contains("imprecise").all()
    ratios = pd.read_csv(workflow.directory / "results" / "figures" / "tcp_vs_native.csv")
    assert set(ratios["n"]) == {4} and ratios["flags"].str.contains("imprecise").all()

    assert workflow.planned() == {}  # everything there: nothing runs
    (workflow.directory / "results/raw/other/TCP_RR/64/3.json").unlink()
    planned = workflow.planned()
    assert planned.get("block") == 1 and planned.get("precision") == 1  # round 2's plan is redone
    assert cell_jobs(workflow.run()) == 1
    # A higher maximum adds only the repetitions it allows, in a third round.
    precision["max_repetitions"] = 5
    workflow.write_config(config)
    done = workflow.run()
    assert cell_jobs(done) == 2 and "round 3 adds 4 cells in 2 blocks" in done.stderr
    assert "precision round 3 (20 cells)" in done.stderr
    assert len(workflow.records()) == 20
    # A time budget already spent: the plans are made again, keep every cell measured (they cost
    # nothing), and add none; what the budget stopped is said.
    precision |= {"max_repetitions": 6, "budget_minutes": 0.001}
    workflow.write_config(config)
    done = workflow.run()
    assert cell_jobs(done) == 0 and "precision round 3 (20 cells)" in done.stderr
    assert "4 stopped short by the time budget (0.001 min of cells" in done.stderr
    assert set(pd.read_csv(workflow.directory / "results" / "figures" / "tcp.csv")["n"]) == {5}
    # Titles and labels rerun no cell.
    config["figures"]["tcp"]["title"] = "Another title"
    workflow.write_config(config)
    assert "block" not in workflow.planned()


def test_a_block_keeps_what_it_measured_and_replaces_nothing_silently(workflow):
    config = two_loopback_platforms(repetitions=1, run_length=0.05, runs_per_cell=2)
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1], "title": "TCP"}}
    workflow.write_config(config)
    workflow.run()
    native, other = (
        workflow.directory / f"results/raw/{name}/TCP_RR/1/1.json" for name in ("native", "other")
    )
    kept = native.read_bytes()
    # A record lost (deleted by hand): its block's job measures it, and keeps its mate's record,
    # which measures what the block asks, as it is.
    other.unlink()
    assert cell_jobs(workflow.run()) == 1
    assert native.read_bytes() == kept and load(str(other)).measured
    log = (workflow.directory / "results/logs/cells/native/TCP_RR/1/1.log").read_text()
    assert "kept: its record measures what the block asks" in log
    # What one platform measures changes (another run count): the whole block is measured anew,
    # as its ratio needs, and the records it replaces are kept in results/replaced/.
    config["runs_per_cell"] = 3
    workflow.write_config(config)
    assert cell_jobs(workflow.run()) == 1
    assert len(load(str(native)).fields["runs"]) == 3 and len(load(str(other)).fields["runs"]) == 3
    replaced = list((workflow.directory / "results" / "replaced").rglob("*.json"))
    assert sorted(path.read_bytes() == kept for path in replaced) == [False, True]


def test_two_runs_on_one_machine_take_turns(tmp_path):
    # Runs long enough (6 one-second cells each) that the second starts while the first measures.
    flows = [Workflow(tmp_path / name) for name in ("first", "second")]
    figures = {"tcp": {"test": "TCP_RR", "sizes": [1, 64, 256], "title": "t"}}
    for flow in flows:
        flow.write_config(tiny_config(repetitions=2, figures=figures))
    runs = [flow.start() for flow in flows]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    # One waited. It names the run it waits for when it can read the lock's holder; a run that
    # asks at the instant the other has taken the lock but not yet written itself there reads
    # "another run" (seen in CI), so the holder's name is not asserted.
    waited = [output for output in outputs if "runs that measure on this machine take turns" in output]
    assert len(waited) == 1 and "the other run finished; this one goes on" in waited[0]
    spans = sorted(
        (record["started_at"], record["finished_at"], flow.directory.name)
        for flow in flows
        for record in (json.loads(path.read_text()) for path in flow.records())
    )
    assert len(spans) == 12
    for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"cells of {a} and {b} overlapped"
    assert [name for *_, name in spans] in (["first"] * 6 + ["second"] * 6, ["second"] * 6 + ["first"] * 6)


def test_latency_and_cpu_figures_end_to_end(workflow):
    config = two_loopback_platforms(repetitions=2)
    config["figures"]["tcp"]["extra_metrics"] = ["latency", "cpu"]
    config["figures"]["udp"] = {"test": "UDP_RR", "sizes": [16], "title": "UDP"}
    workflow.write_config(config)
    workflow.run()
    figures = workflow.directory / "results" / "figures"
    for name in ("tcp_latency", "tcp_cpu", "tcp_latency_vs_native", "tcp_cpu_vs_native"):
        assert (figures / f"{name}.pdf").read_bytes().startswith(b"%PDF"), name
    records = [json.loads(path.read_text()) for path in workflow.records()]
    record = next(r for r in records if r["test"] == "TCP_RR")
    latency = record["latency_us"]
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert record["cpu"]["service_demand_units"] == "usec/KB" and record["cpu"]["client_method"] == "S"
    # Both ends on this machine: its CPU per transaction, measured around the run.
    assert record["machine_cpu"]["us_per_transaction"] > 0
    table = pd.read_csv(figures / "tcp.csv")
    extra = {"p50_latency_us", "p90_latency_us", "p99_latency_us", "machine_cpu_us_per_transaction",
             "client_cpu_us_per_transaction", "server_cpu_us_per_transaction"}  # fmt: skip
    assert extra <= set(table["metric"])
    assert set(table.loc[table["metric"] == "p99_latency_us", "unit"]) == {"us"}
    ratios = pd.read_csv(figures / "tcp_vs_native.csv")
    assert {"throughput_mbit_s", "p50_latency_us", "machine_cpu_us_per_transaction"} <= set(ratios["metric"])
    # A figure without extra metrics keeps its cells, records and outputs as they were.
    udp = [r for r in records if r["test"] == "UDP_RR"]
    assert len(udp) == 4 and not any({"latency_us", "cpu", "machine_cpu"} & set(r) for r in udp)
    assert not list(figures.glob("udp_*latency*")) and (figures / "udp.pdf").exists()
