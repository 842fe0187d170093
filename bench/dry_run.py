"""Dry-run time over the paper's full grid once every cell exists (budget: 3 s).

Builds the paper's grid for three platforms (3 x 36 sizes x 10 repetitions =
1,080 cells), writes a synthetic record for every cell (named as such: no
netperf runs here), lets Snakemake build the figures, then times
`snakemake -n figures`, which must find nothing to do.

    .venv/bin/python bench/dry_run.py
"""

import json
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, snakemake, workflow_copy
from vnetbench.config import load_experiment


def main() -> None:
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    base = next(iter(config["platforms"].values()))
    config["platforms"] = {name: {**base, "label": name} for name in ("native", "openvz", "xen")}
    experiment = load_experiment(json.loads(json.dumps(config)))
    with tempfile.TemporaryDirectory(prefix="vnetbench-dry-") as tmp:
        flow = workflow_copy(Path(tmp) / "flow", config)
        for cell in experiment.cells():
            path = flow / cell.path
            path.parent.mkdir(parents=True, exist_ok=True)
            rate = 1000.0 + cell.rep
            path.write_text(
                json.dumps(
                    {
                        "platform": cell.platform,
                        "test": cell.test,
                        "size_bytes": cell.size_bytes,
                        "rep": cell.rep,
                        "transactions_per_s": rate,
                        "throughput_mbit_s": rate * 2 * cell.size_bytes * 8 / 1e6,
                        "synthetic": True,
                    }
                )
            )
        snakemake(flow)  # aggregates and plots only: every cell exists
        timings = []
        for _ in range(3):
            began = time.monotonic()
            done = snakemake(flow, "-n", "figures")
            timings.append(time.monotonic() - began)
            assert "Nothing to be done" in done.stdout + done.stderr, done.stdout + done.stderr
        print(f"cells: {len(experiment.cells())}")
        print(
            f"snakemake -n figures with everything present: best {min(timings):.2f} s, "
            f"worst {max(timings):.2f} s (budget 3 s)"
        )


if __name__ == "__main__":
    main()
