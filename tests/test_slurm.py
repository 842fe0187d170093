"""The SLURM profile on a real one-node SLURM cluster (Debian's munge and slurm-wlm).

CI runs it; skip it locally with `pytest -m "not slurm"`.
"""

import json
import os
from datetime import datetime

import pytest
from vnetbench.slurm_lab import OneNodeSlurm, available

from .conftest import tiny_config

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not available(), reason="needs root and munge + slurm-wlm installed"
    ),
]

# Poll fast: the profile's polite defaults (first poll after 5 s, then every 10 s) would make
# this test wait on polling, not on SLURM.
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = OneNodeSlurm(tmp_path_factory.mktemp("slurm"))
    slurm.start()
    try:
        yield slurm
    finally:
        slurm.stop()
        assert all(process.poll() is not None for process in slurm.processes)


def spans(workflow) -> list[tuple[float, float]]:
    def stamp(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    records = [json.loads(path.read_text()) for path in workflow.records()]
    # Each netperf run: a cell's own span, or each of its runs where a block interleaved them.
    runs = [run for r in records for run in r.get("runs", [r]) if "started_at" in run] or records
    return sorted((stamp(r["started_at"]), stamp(r["finished_at"])) for r in runs)


def assert_no_overlap(workflow) -> None:
    times = spans(workflow)
    for (_, end), (start, _) in zip(times, times[1:], strict=False):
        assert end <= start, "two cells overlapped on the testbed"


def test_cells_go_through_slurm_one_at_a_time(cluster, workflow):
    config = tiny_config(repetitions=1)
    config["platforms"]["other"] = config["platforms"]["native"] | {"label": "Loopback again"}
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1, 64], "title": "TCP"}}
    workflow.write_config(config)

    # One submission per block (of two cells); the run's hooks and local rules stay on this host.
    before = set(cluster.jobs_completed())
    done = workflow.run("--profile", "profiles/slurm", *FAST_POLLING, timeout=300)
    assert "4 cells: 4 done, 0 failed" in done.stderr
    submitted = set(cluster.jobs_completed()) - before
    assert len(submitted) == 2  # slurmctld's own log: the blocks, and only they, went through SLURM
    assert_no_overlap(workflow)
    slurm_record = json.loads(workflow.records()[0].read_text())
    slurm_table = (workflow.directory / "results/figures/tcp.csv").read_text().splitlines()[0]

    # Grouped: two blocks in one submission, still one run at a time on the testbed.
    for path in workflow.records():
        path.unlink()
    before = set(cluster.jobs_completed())
    grouped = ["--groups", "block=cells", "--group-components", "cells=2"]
    done = workflow.run("--profile", "profiles/slurm", *grouped, *FAST_POLLING, timeout=300)
    assert len(set(cluster.jobs_completed()) - before) == 1, done.stdout + done.stderr
    assert len(workflow.records()) == 4
    assert_no_overlap(workflow)

    # The same results, in form, as a local run.
    workflow.records()[0].unlink()
    done = workflow.run()
    assert "rule block:" in done.stdout + done.stderr
    local_record = json.loads(workflow.records()[0].read_text())
    assert set(local_record) == set(slurm_record)
    assert (workflow.directory / "results/figures/tcp.csv").read_text().splitlines()[0] == slurm_table


def test_cluster_generic_profile_with_plain_submit_and_status_commands(cluster, workflow):
    config = tiny_config(repetitions=1)
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1, 64], "title": "TCP"}}
    workflow.write_config(config)
    before = set(cluster.jobs_completed())
    done = workflow.run(
        "--profile", "profiles/cluster-generic", "--seconds-between-status-checks", "2", timeout=300
    )
    assert "2 cells: 2 done, 0 failed" in done.stderr
    assert len(set(cluster.jobs_completed()) - before) == 2
    assert_no_overlap(workflow)
