"""Submission overhead per cell on a real one-node SLURM cluster, with and without grouping.

    .venv/bin/python bench/slurm_overhead.py [CELLS] [GROUP_SIZE] [PLATFORMS]

Runs CELLS one-second TCP_RR cells on loopback three times: locally, through
profiles/slurm one submission per job, and through profiles/slurm with jobs grouped
GROUP_SIZE per submission. With PLATFORMS loopback platforms (default 1) a job is a block of
that many cells, as the default config's blocks of three (native, openvz, xen). The overhead
per cell is (SLURM wall time - local wall time) / CELLS. Polling is set fast (first poll
after 1 s, then every 2 s) so that the figure shows SLURM's own cost; with the profile's
polite defaults (5 s, then 10 s) an ungrouped cell costs about 20 s. Needs root, munge and slurm-wlm.
"""

import sys
import tempfile
import time
from pathlib import Path

from common import snakemake, tiny_config, workflow_copy
from vnetbench.slurm_lab import OneNodeSlurm

POLLING = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2"]


def config(cells: int, platforms: int) -> dict:
    figures = {"bench": {"test": "TCP_RR", "sizes": [1, 64], "title": "bench"}}
    settings = tiny_config(12898, repetitions=cells // 2 // platforms, figures=figures)
    loopback = settings["platforms"]["native"]
    for k in range(2, platforms + 1):
        settings["platforms"][f"loopback{k}"] = {**loopback, "label": f"Loopback {k}"}
    return settings


def timed(directory: Path, *args: str) -> float:
    began = time.monotonic()
    snakemake(directory, *args)
    return time.monotonic() - began


def main(cells: int = 100, group: int = 20, platforms: int = 1) -> None:
    cells = cells // 2 // platforms * 2 * platforms  # whole blocks, two sizes
    with tempfile.TemporaryDirectory(prefix="vnetbench-slurm-bench-") as tmp:
        tmp = Path(tmp)
        cluster = OneNodeSlurm(tmp / "slurm")
        cluster.start()
        try:
            local = timed(workflow_copy(tmp / "local", config(cells, platforms)))
            single = timed(
                workflow_copy(tmp / "single", config(cells, platforms)),
                "--profile",
                "profiles/slurm",
                *POLLING,
            )
            grouped = timed(
                workflow_copy(tmp / "grouped", config(cells, platforms)),
                "--profile", "profiles/slurm", *POLLING,
                "--groups", "block=cells", "--group-components", f"cells={group}",
            )  # fmt: skip
            jobs = len(cluster.jobs_completed())
        finally:
            cluster.stop()
    print(f"{cells} one-second cells in jobs of {platforms}; SLURM jobs completed: {jobs}")
    print(f"local:                  {local:7.1f} s ({local / cells:.2f} s per cell)")
    print(f"SLURM, 1 job per submission: {single:7.1f} s, overhead {(single - local) / cells:.2f} s per cell")
    print(
        f"SLURM, {group} jobs per submission: {grouped:7.1f} s, "
        f"overhead {(grouped - local) / cells:.2f} s per cell"
    )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
