"""Replay the precision rounds of a finished run with today's rule, on that run's own records.

    .venv/bin/python bench/precision_replay.py RESULTS [--config config/config.yaml] [--give-up-beyond X]
        [--budget-minutes M]

A run's round k+1 is planned from the cells of rounds 1..k. Given a run that measured at
least the cells today's rule asks for (a run of an earlier, more generous rule), the plan of
every round can be made again from the very records it would have had: round 1's repetitions,
then whatever today's plan adds, looked up among the run's records. It prints the cells each
rule takes and how many configurations reach their targets, so that a change of the rule is
judged on a real run's noise without measuring again. A planned cell the run does not hold
stops the replay (today's rule asks for more than that run measured): it says so. With a time
budget (--budget-minutes, or the config's precision.budget_minutes), each round is planned
within it from the replayed cells' own times, as a run plans it.
"""

import argparse
import os
import sys
from dataclasses import replace

import yaml
from vnetbench.config import load_experiment
from vnetbench.precision import cell_seconds, plan, targets_of
from vnetbench.records import load_cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument(
        "--give-up-beyond", type=float, help="the config's precision.give_up_beyond; 0: never"
    )
    parser.add_argument("--budget-minutes", type=float, help="the config's precision.budget_minutes; 0: none")
    args = parser.parse_args()
    with open(args.config) as stream:
        experiment = load_experiment(yaml.safe_load(stream))
    targets = targets_of(experiment)
    if args.give_up_beyond is not None:
        targets = replace(targets, give_up_beyond=args.give_up_beyond or None)
    if args.budget_minutes is not None:
        targets = replace(targets, budget_s=60 * args.budget_minutes if args.budget_minutes else None)
    metric_of = {f.test: f.metric for f in reversed(experiment.figures.values())}
    baseline = experiment.baseline
    paths = [
        os.path.join(d, f) for d, _, names in os.walk(os.path.join(args.results, "raw")) for f in names
        if f.endswith(".json")
    ]  # fmt: skip
    records, failed = load_cells(paths)
    held = {(r["platform"], r["test"], r["size_bytes"], r["rep"]): r for r in records}
    taken = [r for r in records if r["rep"] <= targets.min_repetitions or r["platform"] == "vm"]
    taken = [
        r
        for r in taken
        if r["rep"] <= min(targets.min_repetitions, experiment.max_repetitions(r["platform"]))
    ]
    print(f"{args.results}: {len(records)} cells measured; the replay's round 1: {len(taken)} cells")
    for round_ in range(1, 10):
        result = plan(taken, metric_of, baseline, targets, experiment.block_members)
        rows = result["configurations"]
        reached = sum(row["reached"] for row in rows)
        ratios = [row for row in rows if row["has_ratio"]]
        ratio_ok = sum(
            row["ratio_precision"] is not None and row["ratio_precision"] <= targets.ratio for row in ratios
        )
        gave_up = sum(row.get("gave_up", False) for row in rows)
        cut = sum(row["cut"] for row in rows)
        minutes = sum(cell_seconds(r) for r in taken) / 60
        print(
            f"  after round {round_}: {len(taken)} cells ({minutes:.1f} min of cells); "
            f"{reached} of {len(rows)} configurations reached; ratios within target {ratio_ok} of "
            f"{len(ratios)}; given up {gave_up}; cut by the budget {cut}"
        )
        if not result["add"]:
            break
        for block in result["add"]:
            for platform in block["platforms"]:
                key = (platform, block["test"], block["size_bytes"], block["rep"])
                if key not in held:
                    sys.exit(f"  round {round_ + 1} asks for {key}, not in {args.results}: replay stops")
                taken.append(held[key])
    print(f"cells: {len(taken)} (the run measured {len(records)}; failed cells ignored: {len(failed)})")


if __name__ == "__main__":
    main()
