"""Upgrading vnetbench never measures a cell again: the records of an earlier version, with a
config from before, stay as they are. The earlier version is taken from this repository's own
history (a clone has it), and both run with the real Snakemake on loopback."""

import json
import os
import shutil
import subprocess

from .conftest import ROOT, Workflow, tiny_config

# The last version before the model, the lean cell path, precision rounds and the latency and
# CPU metrics: its records must survive them all.
EARLIER = "618ef06"
WORKFLOW_FILES = ("Snakefile", "rules", "workflow", "profiles", "report", "environment.yml")


def test_an_upgrade_reruns_no_cell_of_an_earlier_version(tmp_path):
    earlier = tmp_path / "flow"
    earlier.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", EARLIER, *WORKFLOW_FILES, "config"],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(earlier)], input=archive.stdout, check=True)
    flow = Workflow.__new__(Workflow)
    flow.directory = earlier
    config = tiny_config()
    flow.write_config(config)
    # Its own package, not this checkout's that the virtualenv has installed.
    env = {**os.environ, "PYTHONPATH": str(earlier / "workflow" / "scripts")}
    subprocess.run([flow.snakemake, "--cores", "1"], cwd=earlier, env=env, capture_output=True, check=True)
    before = {path: path.read_bytes() for path in flow.records()}
    assert len(before) == 6

    # This version's workflow over the same working directory, results and .snakemake.
    for name in WORKFLOW_FILES:
        old, new = earlier / name, ROOT / name
        if new.is_dir():
            shutil.rmtree(old)
            shutil.copytree(new, old)
        else:
            shutil.copy2(new, old)
    planned = flow.planned()
    assert "cell" not in planned, planned
    done = flow.run()
    assert "rule cell:" not in done.stdout + done.stderr
    assert {path: path.read_bytes() for path in flow.records()} == before
    table = (earlier / "results" / "figures" / "tcp_small.csv").read_text()
    assert "precision" in table.splitlines()[0]  # the figures were remade by this version
    assert json.loads(before[flow.records()[0]])["raw_output"]
