"""Do the reported 95% intervals cover 95% under the precision rule's stopping?

    .venv/bin/python bench/coverage.py RESULTS [--trials N] [--seed S] [--config CONFIG]

A precision run adds repetitions until an interval is narrow enough and then stops (optional
stopping): it stops more often where the first repetitions happened to agree, so a plain t
interval computed after the stop covers less than its level. This benchmark runs the real rule
(vnetbench.precision.plan, round after round, with the targets of the default config) on
simulated configurations whose noise is the lab's, read from a real run's records (RESULTS, a
default run's results folder): for every configuration of a platform with a ratio to the
baseline, the spread of its values' logarithms (a mean's noise) and of its within-block
log-ratios (a ratio's noise). A block shares a factor between its platforms, as a machine's
drift does, so that a ratio's noise is smaller than a value's, as measured.

It prints, for each stopping rule tried, the coverage of the mean's and the ratio's intervals
over all simulated configurations and among those that stopped because they reached their
target, and the cells the rule took (per configuration, mean), so that a fix is judged on
both. `as shipped` is the default config's rule today (min_repetitions 10, giving up on a
configuration that its spread predicts will miss its target by 1.2x even at its maximum).

With --config (e.g. config/load.yaml and a load run's results), the noise is read from every
figure's metric of that run, and the rule simulated is that config's own: its targets, minimum,
maximum and giving up (left out: a figure's own maximum, and a time budget, which cuts
repetitions whatever their values).
"""

import argparse
import math
import os
import random
import statistics
import sys
from contextlib import contextmanager

import yaml
from vnetbench import precision
from vnetbench.config import load_experiment
from vnetbench.precision import Targets, paired_ratio, plan
from vnetbench.records import load_cells
from vnetbench.stats import t_quantile

METRIC = {"TCP_RR": "transactions_per_s", "UDP_RR": "transactions_per_s"}


def lab_noise(results: str, metric_of: dict[str, str] = METRIC) -> list[tuple[float, float]]:
    """(sd of log values, sd of within-block log-ratios to native) per configuration of the
    tests in `metric_of` (test -> the metric its figures show)."""
    paths = [
        os.path.join(d, f) for d, _, names in os.walk(os.path.join(results, "raw")) for f in names
        if f.endswith(".json")
    ]  # fmt: skip
    records, _ = load_cells(paths)
    groups: dict = {}
    for r in records:
        if r["test"] in metric_of and (r.get(metric_of[r["test"]]) or 0) > 0:
            groups.setdefault((r["test"], r["size_bytes"]), {}).setdefault(r["platform"], {})[r["rep"]] = r
    noise = []
    for (test, _), by_platform in groups.items():
        base = by_platform.get("native", {})
        for platform, by_rep in by_platform.items():
            if platform in ("native", "vm") or len(by_rep) < 4:
                continue
            metric = metric_of[test]
            logs = [math.log(r[metric]) for r in by_rep.values()]
            pairs = [math.log(r[metric] / base[rep][metric]) for rep, r in by_rep.items() if rep in base]
            if len(pairs) >= 4:
                noise.append((statistics.stdev(logs), statistics.stdev(pairs)))
    if not noise:
        sys.exit(f"{results}: no configuration with a ratio to native and 4 repetitions")
    return noise


@contextmanager
def level(value: float):
    saved = precision.LEVEL
    precision.LEVEL = value
    try:
        yield
    finally:
        precision.LEVEL = saved


def simulate(sd_value: float, sd_ratio: float, targets: Targets, rng: random.Random, stop_level: float):
    """One configuration (native and one platform, paired in blocks) under the rule:
    (mean covered, ratio covered, reached, cells)."""
    sd_own = sd_ratio / math.sqrt(2)  # each side's own noise; the ratio's is sqrt(2) of it
    sd_block = math.sqrt(max(0.0, sd_value**2 - sd_own**2))  # what a block shares
    true_log_ratio = math.log(0.8)
    records: list[dict] = []

    def add_block(rep: int, platforms: list[str]) -> None:
        shared = rng.gauss(0, sd_block)
        for platform in platforms:
            center = 0.0 if platform == "native" else true_log_ratio
            value = math.exp(10 + center + shared + rng.gauss(0, sd_own))
            records.append({"platform": platform, "test": "TCP_RR", "size_bytes": 1, "rep": rep,
                            "transactions_per_s": value})  # fmt: skip

    for rep in range(1, targets.min_repetitions + 1):
        add_block(rep, ["native", "other"])
    with level(stop_level):
        while True:
            result = plan(records, {"TCP_RR": "transactions_per_s"}, "native", targets)
            if not result["add"]:
                break
            for block in result["add"]:
                add_block(block["rep"], block["platforms"])
    row = next(r for r in result["configurations"] if r["platform"] == "other")
    values = [r["transactions_per_s"] for r in records if r["platform"] == "other"]
    n = len(values)
    # The reported intervals are always the 95% ones.
    half = t_quantile(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)
    true_mean = math.exp(10 + true_log_ratio + (sd_block**2 + sd_own**2) / 2)
    mean_covered = abs(statistics.fmean(values) - true_mean) <= half
    base = {r["rep"]: r["transactions_per_s"] for r in records if r["platform"] == "native"}
    pairs = [(r["transactions_per_s"], base[r["rep"]]) for r in records if r["platform"] == "other"]
    ratio = paired_ratio(pairs)
    ratio_covered = ratio.low <= math.exp(true_log_ratio) <= ratio.high
    return mean_covered, ratio_covered, row["reached"], len(records)


RULES = {
    # name: (level of the stopping checks, minimum repetitions, give up beyond x target), with the
    # default config's targets (+-10% for a mean, +-5% for a ratio) and a maximum of 24
    "min 4 (the rule before issue 28)": (0.95, 4, None),
    "min 6": (0.95, 6, None),
    "min 8": (0.95, 8, None),
    "min 10, never giving up (the rule before)": (0.95, 10, None),
    "min 10, giving up beyond 1.1x": (0.95, 10, 1.1),
    "min 10, giving up beyond 1.2x (as shipped: precision.give_up_beyond)": (0.95, 10, 1.2),
    "stop at 99%, min 4": (0.99, 4, None),
    "stop at 98%, min 5": (0.98, 5, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2007)
    parser.add_argument("--rules", default=";".join(RULES))
    parser.add_argument("--config", help="simulate this config's rule, at the noise of its figures' metrics")
    args = parser.parse_args()
    both = ("native", "other")
    rules = {  # name: (level of the stopping checks, the targets)
        name: (RULES[name][0], Targets(0.10, 0.05, RULES[name][1], dict.fromkeys(both, 24), RULES[name][2]))
        for name in args.rules.split(";")
    }
    metric_of = METRIC
    if args.config:
        with open(args.config) as stream:
            experiment = load_experiment(yaml.safe_load(stream))
        p = experiment.precision
        maxima = dict.fromkeys(both, p.max_repetitions)
        targets = Targets(p.value_target, p.target, p.min_repetitions, maxima, p.give_up_beyond)
        rules = {f"as in {args.config}": (0.95, targets)}
        metric_of = {f.test: f.metric for f in reversed(experiment.figures.values())}
    noise = lab_noise(args.results, metric_of)
    values, ratios = statistics.median(n[0] for n in noise), statistics.median(n[1] for n in noise)
    print(f"lab noise from {len(noise)} configurations of {args.results}: sd of log values median "
          f"{values:.3f}, of log-ratios {ratios:.3f}")  # fmt: skip
    for name, (stop_level, targets) in rules.items():
        rng = random.Random(args.seed)
        outcomes = [simulate(*rng.choice(noise), targets, rng, stop_level) for _ in range(args.trials)]
        reached = [o for o in outcomes if o[2]]

        def share(rows, index):
            return sum(o[index] for o in rows) / len(rows) if rows else math.nan

        se = math.sqrt(0.95 * 0.05 / len(outcomes))
        print(
            f"{name}: coverage of the mean {share(outcomes, 0):.3f}, of the ratio {share(outcomes, 1):.3f} "
            f"(+-{2 * se:.3f}); among the {len(reached)} that reached their target: {share(reached, 0):.3f}, "
            f"{share(reached, 1):.3f}; cells per configuration {statistics.fmean(o[3] for o in outcomes):.2f}"
        )


if __name__ == "__main__":
    main()
