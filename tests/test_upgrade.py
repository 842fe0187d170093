"""Upgrading vnetbench never measures a cell again: the records of an earlier version, with a
config from before, stay as they were measured. The earlier version is taken from this
repository's own history (a clone has it), and both run with the real Snakemake on loopback;
between them, `python -m vnetbench prepare`, as `make figures` runs it."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from vnetbench.records import ESTIMATED, SCHEMA_VERSION, load, record_of

from .conftest import DATA, ROOT, Workflow, free_port, tiny_config

# The last version before the model, the lean cell path, precision rounds and the latency and
# CPU metrics: its records must survive them all.
BEFORE_THE_MODEL = "618ef06"
# The last version with a job per cell (its blocks' runs interleaved by a broker that parked a
# block's other records in results/pending/), records without a schema version.
JOB_PER_CELL = "7d0ec31"
WORKFLOW_FILES = ("Snakefile", "rules", "workflow", "profiles", "report", "environment.yml")


def timed(config: dict) -> dict:
    """A config of timed runs, in the form of a version from before sized runs (no such keys)."""
    return {key: value for key, value in config.items() if key not in ("run_length", "runs_per_cell")}


def run_earlier(version: str, directory, config: dict) -> Workflow:
    directory.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", version, *WORKFLOW_FILES, "config"],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    flow = Workflow.__new__(Workflow)
    flow.directory = directory
    flow.write_config(config)
    # Its own package, not this checkout's that the virtualenv has installed.
    env = {**os.environ, "PYTHONPATH": str(directory / "workflow" / "scripts")}
    subprocess.run([flow.snakemake, "--cores", "1"], cwd=directory, env=env, capture_output=True, check=True)
    return flow


def upgrade(flow: Workflow) -> None:
    """This version's workflow over the same working directory, results and .snakemake; then
    the step `make figures` runs first."""
    for name in WORKFLOW_FILES:
        old, new = flow.directory / name, ROOT / name
        if new.is_dir():
            shutil.rmtree(old)
            shutil.copytree(new, old)
        else:
            shutil.copy2(new, old)
    subprocess.run(
        [sys.executable, "-m", "vnetbench", "prepare"], cwd=flow.directory, check=True, capture_output=True
    )


def assert_nothing_measured_again(flow: Workflow, before: dict) -> None:
    planned = flow.planned()
    assert "cell" not in planned and "block" not in planned, planned
    done = flow.run()
    assert "rule cell:" not in done.stdout + done.stderr and "rule block:" not in done.stdout + done.stderr
    after = {path: load(str(path)) for path in flow.records()}
    assert set(after) == set(before)
    for path, record in after.items():
        old = json.loads(before[path])
        # The same measurement, now with its schema version and what it measured; its figures
        # estimated anew from its runs (records.reestimated), its runs as they were measured.
        assert record.schema_version >= 2 and record.measurement is not None
        head = ("schema_version", "status", "measurement", *ESTIMATED)
        assert {k: v for k, v in record.as_dict().items() if k not in head} == {
            k: v for k, v in old.items() if k not in head and k != "failed"
        } | ({"runs": record.as_dict()["runs"]} if "runs" in old else {})
        for run, old_run in zip(record.as_dict().get("runs", []), old.get("runs", []), strict=True):
            assert run["transactions_per_s"] == old_run["transactions_per_s"]
    assert not (flow.directory / "results" / "replaced").exists()
    # A second upgrade changes nothing.
    upgrade(flow)
    assert "block" not in flow.planned()


def test_an_upgrade_reruns_no_cell_of_an_earlier_version(tmp_path):
    flow = run_earlier(BEFORE_THE_MODEL, tmp_path / "flow", timed(tiny_config()))
    before = {path: path.read_bytes() for path in flow.records()}
    assert len(before) == 6
    upgrade(flow)
    assert_nothing_measured_again(flow, before)
    table = (flow.directory / "results" / "figures" / "tcp_small.csv").read_text()
    assert "precision" in table.splitlines()[0]  # the figures were remade by this version
    assert json.loads(before[flow.records()[0]])["raw_output"]


def test_an_upgrade_from_a_job_per_cell_keeps_every_interleaved_cell(tmp_path):
    """Two platforms whose runs the earlier version interleaved, in sized runs: every record is
    kept, and becomes its block's; a config that changed one platform's measurement sends its
    records to results/replaced/ (nothing deleted), and only their blocks run."""
    config = tiny_config(run_length=0.05, runs_per_cell=2)
    port = config["platforms"]["native"]["server"]["netserver_port"]
    config["platforms"]["other"] = config["platforms"]["native"] | {"label": "Other (loopback)"}
    flow = run_earlier(JOB_PER_CELL, tmp_path / "flow", config)
    before = {path: path.read_bytes() for path in flow.records()}
    assert len(before) == 12 and not (flow.directory / "results" / "pending").exists()
    upgrade(flow)
    assert_nothing_measured_again(flow, before)

    # The user points `other` at another netserver port: its records measure what the config
    # no longer asks.
    config["platforms"]["other"] = config["platforms"]["other"] | {
        "server": {"host": "local", "address": "127.0.0.1", "netserver_port": free_port()}
    }
    assert port != config["platforms"]["other"]["server"]["netserver_port"]
    flow.write_config(config)
    assert flow.planned()["block"] == 6
    flow.run()
    replaced = sorted((flow.directory / "results" / "replaced").rglob("*.json"))
    assert len(replaced) == 12  # both platforms' records: each block measured anew, whole
    assert {load(str(path)).cell.platform for path in replaced} == {"native", "other"}
    assert all(load(str(path)).schema_version == SCHEMA_VERSION for path in flow.records())


def test_a_schema_2_record_is_read_with_its_rate_estimated_anew_from_its_runs():
    """A real record of the last version: its rate was the mean of its runs' rates; read now, it
    is their total work over total time (each run 6,200 transactions), and nothing is measured."""
    stored = json.loads((DATA / "record_schema2_tcp_rr_256.json").read_text())
    rates = [run["transactions_per_s"] for run in stored["runs"]]
    assert stored["transactions_per_s"] == pytest.approx(sum(rates) / len(rates))
    record = record_of(stored).as_dict()
    assert record["schema_version"] == SCHEMA_VERSION == 3
    assert record["transactions_per_s"] == pytest.approx(len(rates) / sum(1 / r for r in rates))
    assert record["throughput_mbit_s"] == pytest.approx(record["transactions_per_s"] * 512 * 8 / 1e6)
    assert record["measurement"] == stored["measurement"] and record["runs"][0]["transactions"] == 6200
