"""How often does `python -m vnetbench compare` call a change where there is none? And does it
see one that is there?

    .venv/bin/python bench/change_false_alarms.py [RUNS]   (needs root; about RUNS x 50 s, default 21)

1. RUNS runs of one small config on the embedded testbed (native and openvz; TCP_RR 1 B and
   16 KB, UDP_RR 1 B, TCP_STREAM 64 KB; the default config's sized runs, 6 cells each), one
   after the other with nothing changed, each into a results folder of its own. Every run
   against the next (RUNS - 1 comparisons) with the command's defaults: how many report any
   configuration as changed (faster or slower), how many would fail a CI job (a gating
   regression), and the spread of the absolute B/A between runs (the drift the minimum effect
   has to stand above).
2. One more run with the wire limited (link_rate: 100mbit) against the last one: the bulk test
   must be reported slower and the command must exit 1.
"""

import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from common import ROOT, snakemake, workflow_copy

CONFIG = {
    "testbed": "embedded",
    "duration": 1,
    "run_length": 0.1,
    "runs_per_cell": 5,
    "repetitions": 6,
    "platforms": {
        "native": {"label": "Native", "embedded": "native"},
        "openvz": {"label": "OpenVZ-style container", "embedded": "openvz"},
    },
    "figures": {
        "tcp": {"test": "TCP_RR", "sizes": [1, "16K"], "title": "TCP request/response"},
        "udp": {"test": "UDP_RR", "sizes": [1], "title": "UDP request/response"},
        "bulk": {"test": "TCP_STREAM", "sizes": ["64K"], "title": "TCP bulk"},
    },
}


def measure(workdir: Path, config: dict, name: str, keep: Path) -> Path:
    """One run from nothing into its own results folder (kept as `keep/name`)."""
    flow = workflow_copy(workdir / name, config)
    snakemake(flow)
    target = keep / name
    (flow / "results").rename(target)
    return target


def compare(a: Path, b: Path, out: Path) -> tuple[int, pd.DataFrame]:
    done = subprocess.run(
        [sys.executable, "-m", "vnetbench", "compare", str(a), str(b), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode == 2:
        raise SystemExit(done.stderr)
    return done.returncode, pd.read_csv(out / "changes.csv")


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vnetbench-change-") as tmp:
        tmp = Path(tmp)
        keep = tmp / "results"
        keep.mkdir()
        folders = []
        for index in range(runs):
            folders.append(measure(tmp, CONFIG, f"run{index:02d}", keep))
            print(f"run {index + 1}/{runs} done", file=sys.stderr, flush=True)
        alarms, failures, drift = 0, 0, []
        for index, (a, b) in enumerate(zip(folders, folders[1:], strict=False)):
            code, table = compare(a, b, tmp / f"cmp{index:02d}")
            changed = table[table["verdict"].isin(["faster", "slower"])]
            alarms += bool(len(changed))
            failures += code == 1
            absolute = table[(table["kind"] == "absolute") & (table["metric"] == "throughput_mbit_s")]
            drift += [abs(math.log(r)) for r in absolute["ratio"]]
            what = ", ".join(
                f"{r.kind} {r.platform} {r.test} {r.size_bytes} {r.metric} {r.verdict} {r.ratio:.3f}"
                for r in changed.itertuples()
            )
            print(f"comparison {index + 1}: exit {code}" + (f"; changed: {what}" if what else ""), flush=True)
        comparisons = len(folders) - 1
        drift.sort()
        print(
            f"\n{comparisons} comparisons of two runs of the same config: {alarms} reported a change, "
            f"{failures} would fail a CI job (exit 1); |log B/A| of the absolute throughputs between runs: "
            f"median {math.expm1(statistics.median(drift)):.1%}, 90th percentile "
            f"{math.expm1(drift[int(0.9 * len(drift))]):.1%}, largest {math.expm1(drift[-1]):.1%}"
        )
        limited = measure(tmp, {**CONFIG, "link_rate": "100mbit"}, "limited", keep)
        code, table = compare(folders[-1], limited, tmp / "cmp-limited")
        bulk = table[(table["test"] == "TCP_STREAM") & (table["kind"] == "absolute")]
        bulk = bulk[bulk["metric"] == "throughput_mbit_s"].iloc[0]
        print(
            f"against a run with the wire limited to 100 Mbit/s: exit {code}; TCP_STREAM 64 KB native "
            f"{bulk.verdict}, B/A {bulk.ratio:.4f} [{bulk.low:.4f}, {bulk.high:.4f}], p {bulk.p_value:.2g}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21)
