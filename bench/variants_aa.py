"""Variants in one run: does an A/A report no change, and is a real change found?

    .venv/bin/python bench/variants_aa.py [RUNS]   (needs root; about RUNS x 60 s, default 20)

RUNS runs of config/variants.yaml from nothing, one after the other, each in a workflow copy
of its own: native, `native_again` (native itself: an A/A test) and `native_one_cpu` (netperf
-T 1,1: netperf and netserver on one CPU, a real change), measured in the same blocks. From
each run's results/variants.csv: whether the A/A variant got any verdict other than
same/undecided/imprecise over all its metrics (a false alarm), whether the run would fail
(a gated regression), and what the real change's verdicts and ratios were.
"""

import math
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from common import ROOT, snakemake, workflow_copy
from vnetbench import testbed

CHANGES = ("faster", "slower")


def main(runs: int) -> None:
    config = yaml.safe_load((ROOT / "config" / "variants.yaml").read_text())
    alarms, failed, found, ratios = 0, 0, [], []
    with tempfile.TemporaryDirectory(prefix="vnetbench-variants-") as tmp:
        for index in range(runs):
            flow = workflow_copy(Path(tmp) / f"run{index:02d}", config)
            try:
                snakemake(flow, "figures")
            finally:
                testbed.down(testbed.for_workdir(str(flow)), log=lambda line: None)
            table = pd.read_csv(flow / "results" / "variants.csv")
            aa = table[table["variant"] == "native_again"]
            real = table[(table["variant"] == "native_one_cpu") & table["p_holm"].notna()]
            alarm = aa[aa["verdict"].isin(CHANGES)]
            alarms += bool(len(alarm))
            failed += bool(aa["gates"].any())
            found.append(dict(real["verdict"].value_counts()))
            ratios += list(real["ratio"])
            named = ", ".join(f"{r.test} {r.size_bytes} {r.metric}" for r in alarm.itertuples())
            print(
                f"run {index + 1}/{runs}: A/A {dict(aa['verdict'].value_counts())}"
                + (f" (alarms: {named})" if named else "")
                + f"; -T 1,1 gated: {found[-1]}, B/A {', '.join(f'{r:.3f}' for r in real['ratio'])}",
                flush=True,
            )
    gated = sum(sum(counts.get(v, 0) for v in CHANGES) for counts in found)
    print(
        f"\n{runs} runs: the A/A variant reported a change in {alarms} (a gated regression in {failed}); "
        f"the -T 1,1 variant was found changed in {gated} of {sum(sum(c.values()) for c in found)} gated "
        f"tests, B/A from {min(ratios):.3f} to {max(ratios):.3f} (geometric mean "
        f"{math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
