"""How often does `compare` call a change where there is none? An A/A test on a real run.

    .venv/bin/python bench/aa_splits.py RESULTS [--splits 20] [--seed 2007]

RESULTS is a real run's results folder (the default config's, to test at the scale users run
it). Its blocks (test, size, repetition: every platform measured together, so that pairs stay
pairs) are split at random into two halves, A and B, and compared with `compare`'s defaults,
as `python -m vnetbench compare` would (exit 1 = a gated regression). Nothing changed between
A and B, so every `faster` or `slower` is a false alarm. Prints, per split, the exit status,
the tests and the verdicts, and the totals over all splits.
"""

import argparse
import os
import random
from collections import Counter

from vnetbench.change import Run, compare, load_run
from vnetbench.change_report import regressions


def halves(run: Run, rng: random.Random) -> tuple[Run, Run]:
    blocks = sorted({(r["test"], r["size_bytes"], r["rep"]) for r in run.records})
    chosen = set(rng.sample(blocks, len(blocks) // 2))
    a = [r for r in run.records if (r["test"], r["size_bytes"], r["rep"]) in chosen]
    b = [r for r in run.records if (r["test"], r["size_bytes"], r["rep"]) not in chosen]
    return Run(f"{run.folder} half A", a, run.provenance), Run(f"{run.folder} half B", b, run.provenance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2007)
    args = parser.parse_args()
    run = load_run(os.path.abspath(args.results), "RESULTS")
    rng = random.Random(args.seed)
    exits, alarms, total = 0, 0, Counter()
    for split in range(1, args.splits + 1):
        comparison = compare(*halves(run, rng))
        verdicts = Counter(c.verdict for c in comparison.changes)
        failed = regressions(comparison)
        exits += bool(failed)
        alarms += verdicts["faster"] + verdicts["slower"]
        total += verdicts
        print(f"split {split}: exit {int(bool(failed))}, {comparison.tests} tests "
              f"({comparison.gated_tests} gated): {dict(sorted(verdicts.items()))}")  # fmt: skip
    print(
        f"{len(run.records)} records; over {args.splits} splits: exit 1 in {exits}, {alarms} faster/slower "
        f"verdicts in all; verdicts {dict(sorted(total.items()))}"
    )


if __name__ == "__main__":
    main()
