"""How long Snakemake takes to build the DAG, against its own start-up (`snakemake --version`).

1. The default config (config/config.yaml) with nothing measured: `snakemake -n figures` in a
   copy of the workflow, the first round's blocks and cells planned (budget: 1.5x Snakemake's
   own start-up).
2. The paper's full grid once every cell exists (budget: 3 s): the paper's grid for three
   platforms (3 x 36 sizes x 10 repetitions = 1,080 cells), a synthetic record for every cell
   (named as such: no netperf runs here), the figures built, then `snakemake -n figures`, which
   must find nothing to do.
3. Snakemake's own floor for the same number of jobs: a Snakefile with no code of ours (one rule
   per block with one output per member, one per cell of its own, `touch`), dry-run the same way.
   What the default config costs above it is ours; what the floor costs above `--version` is not.

    .venv/bin/python bench/dry_run.py
"""

import json
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, SNAKEMAKE, snakemake, workflow_copy
from vnetbench.config import load_experiment


def best_of(times: int, *argv: str, cwd: Path) -> tuple[float, float]:
    timings = []
    for _ in range(times):
        began = time.monotonic()
        subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
        timings.append(time.monotonic() - began)
    return min(timings), max(timings)


def default_config_with_nothing_measured() -> None:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="vnetbench-dry-") as tmp:
        flow = workflow_copy(Path(tmp) / "flow", config)
        done = snakemake(flow, "-n", "figures")
        jobs = [line.split() for line in (done.stdout + done.stderr).splitlines()]
        counts = {row[0]: row[1] for row in jobs if len(row) == 2 and row[1].isdigit()}
        dry = best_of(3, SNAKEMAKE, "--cores", "1", "-n", "figures", cwd=flow)
        version = best_of(3, SNAKEMAKE, "--version", cwd=flow)
        print(
            f"default config, nothing measured: {counts.get('block', 0)} block jobs, "
            f"{counts.get('cell', 0)} jobs of a cell of its own, {counts.get('total')} jobs in all"
        )
        print(
            f"  snakemake -n figures: {dry[0]:.2f}-{dry[1]:.2f} s; snakemake --version: {version[0]:.2f}-"
            f"{version[1]:.2f} s; ratio of the best {dry[0] / version[0]:.2f} (budget 1.5)"
        )
        members = len(load_experiment(config).block_members)
        floor = snakemake_floor(
            Path(tmp) / "floor", int(counts["block"]), int(counts.get("cell", 0)), members
        )
        print(
            f"  Snakemake's floor (the same {counts['block']} + {counts.get('cell', 0)} jobs, no code): "
            f"{floor[0]:.2f}-{floor[1]:.2f} s, {floor[0] / version[0]:.2f}x --version; ours above it "
            f"{dry[0] - floor[0]:.2f} s"
        )


def snakemake_floor(directory: Path, blocks: int, cells: int, members: int) -> tuple[float, float]:
    """`snakemake -n` of a Snakefile with `blocks` jobs of `members` outputs each and `cells` jobs
    of one output, nothing else: what Snakemake alone costs for a DAG of that shape."""
    directory.mkdir()
    outputs = ", ".join(f'"b/{{n}}/{m}.json"' for m in range(members))
    (directory / "Snakefile").write_text(
        f"""rule all:
    input: expand("b/{{n}}/0.json", n=range({blocks})), expand("c/{{n}}.json", n=range({cells}))

rule block:
    output: {outputs}
    shell: "touch {{output}}"

rule cell:
    output: "c/{{n}}.json"
    shell: "touch {{output}}"
"""
    )
    return best_of(3, SNAKEMAKE, "--cores", "1", "-n", cwd=directory)


def main() -> None:
    default_config_with_nothing_measured()
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
