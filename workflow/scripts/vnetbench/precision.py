"""Repetitions until precise: how precise each configuration and each ratio is, and which
blocks the next round adds.

A *block* is one repetition of one (test, size): its platforms run back to back, so a ratio
to the baseline is estimated from pairs measured seconds apart, where the machine's slow
drift cancels. Precision is the relative half-width of a 95% interval:

- a configuration's mean: Student-t interval, t * s / sqrt(n) / mean;
- a ratio to the baseline: the geometric mean of the within-block ratios, with the
  Student-t interval of their logarithms (exp of its half-width, minus 1).

After each round the plan adds blocks where a configuration or a ratio misses its target,
its repetitions are below their maximum, and its spread does not already put the target out
of reach at that maximum (hopeless). The size of the step is what the current
precision predicts (the half-width shrinks as 1/sqrt(n)), at most doubling n per round.
Stopping when a target is met biases coverage (optional stopping: a stop is likelier where the
first repetitions happened to agree); a minimum of 10 repetitions keeps the reported 95%
intervals at about 95% at the lab's noise (bench/coverage.py), and the report says so.

With a time budget (precision.budget_minutes), a round adds only the blocks that fit in what
the cells measured so far left of it (within_budget); a configuration left short is flagged
`cut`, and imprecise where it missed its target. The first round always runs whole.

Pure functions of records; no numpy.
"""

import json
import math
import os
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

from .model import GIVE_UP_BEYOND, Experiment
from .records import seconds_of
from .stats import t_quantile

LEVEL = 0.95


@dataclass(frozen=True)
class Targets:
    value: float  # a configuration's mean: half-width of its 95% interval / mean
    ratio: float  # a ratio to the baseline: the same, of the paired ratio
    min_repetitions: int
    max_repetitions: dict[str, int]  # per platform
    give_up_beyond: float | None = GIVE_UP_BEYOND  # see hopeless; None: never give up
    # (platform, test, size) -> its maximum, where a figure's own cap sets another one
    configuration_maxima: dict = field(default_factory=dict)
    budget_s: float | None = None  # seconds of cells the rounds may plan in all (see within_budget)

    def limit(self, platform: str, test: str, size_bytes: int) -> int:
        """The most repetitions of one configuration."""
        found = self.configuration_maxima.get((platform, test, size_bytes))
        return found or self.max_repetitions.get(platform, max(self.max_repetitions.values()))


def targets_of(experiment: Experiment) -> Targets:
    """The targets of an experiment with a precision target, each platform and each
    configuration of a figure with a cap of its own with its maximum."""
    p = experiment.precision
    maxima = {name: experiment.max_repetitions(name) for name in experiment.platforms}
    capped = {
        (name, figure.test, size): experiment.max_repetitions(name, figure.test, size)
        for figure in experiment.figures.values()
        if figure.max_repetitions
        for size in figure.sizes
        for name in experiment.platforms
    }
    budget = None if p.budget_minutes is None else 60 * p.budget_minutes
    return Targets(p.value_target, p.target, p.min_repetitions, maxima, p.give_up_beyond, capped, budget)


def value_precision(values: list[float]) -> float:
    """Relative half-width of the 95% t interval of the mean (inf when undefined)."""
    n, mean = len(values), statistics.fmean(values) if values else 0.0
    if n < 2 or mean <= 0:
        return math.inf
    return t_quantile(0.5 + LEVEL / 2, n - 1) * statistics.stdev(values) / math.sqrt(n) / mean


@dataclass(frozen=True)
class Ratio:
    ratio: float  # geometric mean of the within-block ratios
    low: float
    high: float
    n: int  # blocks with both platforms
    precision: float  # exp(half-width of the log interval) - 1


def paired_ratio(pairs: list[tuple[float, float]]) -> Ratio:
    """numerator / denominator from (numerator, denominator) pairs measured in one block each."""
    logs = [math.log(a / b) for a, b in pairs if a > 0 and b > 0]
    n = len(logs)
    if n == 0:
        return Ratio(math.nan, math.nan, math.nan, 0, math.inf)
    center = statistics.fmean(logs)
    if n < 2:
        return Ratio(math.exp(center), math.nan, math.nan, 1, math.inf)
    half = t_quantile(0.5 + LEVEL / 2, n - 1) * statistics.stdev(logs) / math.sqrt(n)
    return Ratio(math.exp(center), math.exp(center - half), math.exp(center + half), n, math.expm1(half))


# A configuration whose spread so far predicts, even at its maximum, an interval wider than
# give_up_beyond x its target gets no more repetitions of its own: it is flagged `imprecise` now
# rather than after 14 more cells that cannot bring it in (on a fresh machine's default run,
# 1.2 saved 129 of 2,241 cells and lost no configuration that later reached its target;
# bench/precision_replay.py replays it, bench/coverage.py simulates its coverage). The margin is
# for the spread's own uncertainty: after 10 values, s is within about +-25% of sigma.
def hopeless(
    n: int, precision: float, target: float, limit: int, beyond: float | None = GIVE_UP_BEYOND
) -> bool:
    """Would the interval still be wider than `beyond` x target after `limit` values, if the
    spread stays what `n` values show? (Half-width ~ t(n-1) / sqrt(n).)"""
    if beyond is None or precision <= target or n < 2 or limit <= n or math.isinf(precision):
        return False
    at_limit = precision * math.sqrt(n / limit) * t_quantile(0.5 + LEVEL / 2, limit - 1)
    return at_limit / t_quantile(0.5 + LEVEL / 2, n - 1) > beyond * target


def _miss(n: int, precision: float, target: float, limit: int, beyond: float | None):
    """(repetitions needed, hopeless) for a target that `n` values miss; None for one they meet."""
    if precision <= target:
        return None
    return needed(n, precision, target), hopeless(n, precision, target, limit, beyond)


def needed(n: int, precision: float, target: float) -> int:
    """Repetitions the current precision predicts for the target (half-width ~ 1/sqrt(n))."""
    if precision <= target:
        return n
    if math.isinf(precision):
        return 2 * n
    return math.ceil(n * (precision / target) ** 2)


@dataclass(frozen=True)
class Configuration:
    platform: str
    test: str
    size_bytes: int
    n: int
    precision: float  # of the mean
    has_ratio: bool  # compared with the baseline (every platform but the baseline)
    ratio_precision: float | None  # of the ratio to the baseline (None: undefined or baseline)
    reached: bool
    at_max: bool
    gave_up: bool = False  # hopeless at its maximum (see hopeless): no more repetitions of its own
    cut: bool = False  # short of a target, and the time budget left out repetitions it wanted


# Records of one repetition pair only when measured this close in time: a block runs its
# platforms back to back, seconds apart. A cell measured again in a later run (it failed) has
# no partner in its block any more: a baseline measured minutes earlier is no pair.
PAIR_WINDOW_S = 300.0


def block_pairs(records: dict[int, dict], baseline: dict[int, dict]) -> list[tuple[dict, dict]]:
    """(record, baseline record) of the same repetition (block), measured within
    PAIR_WINDOW_S of each other (records without times pair by repetition alone)."""
    pairs = []
    for rep, record in sorted(records.items()):
        partner = baseline.get(rep)
        if partner is None:
            continue
        if "started_at" in record and "started_at" in partner:
            apart = abs(seconds_of(record["started_at"]) - seconds_of(partner["started_at"]))
            if apart > PAIR_WINDOW_S:
                continue
        pairs.append((record, partner))
    return pairs


def plan(
    records: list[dict],
    metric_of: dict[str, str],
    baseline: str,
    targets: Targets,
    together=(),
    failed=(),
    measured=frozenset(),
) -> dict:
    """Where the next round adds blocks. `metric_of`: test -> the metric its figures show;
    `together`: the platforms measured in blocks (Experiment.block_members), added whole;
    `failed`: the placeholders of cells that failed, which count against a configuration's
    maximum as tries (a platform that keeps failing would otherwise be given new repetitions,
    with whole blocks of the others, round after round); `measured`: the (platform, test,
    size_bytes, rep) of every cell whose record exists, which a time budget counts as free.

    Returns {"configurations": [...], "add": [{"test", "size_bytes", "rep", "platforms": [...]}]}:
    each added block holds the platforms that need more repetitions, with the baseline they are
    paired with, and with every block member if it holds one. With a time budget, also
    "budget": {"budget_s", "spent_s" (by the cells so far), "left_out_cells"}.
    """
    groups: dict[tuple[str, int], dict[str, dict[int, dict]]] = {}
    # A record without the metric (a probe that the load starved: no latency) is a try, as a
    # failed cell is, not a value.
    tried = Counter((cell["platform"], cell["test"], cell["size_bytes"]) for cell in failed)
    for record in records:
        if record.get(metric_of[record["test"]]) is None:
            tried[(record["platform"], record["test"], record["size_bytes"])] += 1
            continue
        group = groups.setdefault((record["test"], record["size_bytes"]), {})
        group.setdefault(record["platform"], {})[record["rep"]] = record
    configurations, add, wanting = [], [], {}
    for (test, size), by_platform in sorted(groups.items()):
        metric = metric_of[test]
        base = by_platform.get(baseline, {})
        wanted = {}
        for platform, by_rep in by_platform.items():
            n = len(by_rep)
            precision = value_precision([record[metric] for record in by_rep.values()])
            limit = targets.limit(platform, test, size)
            attempts = n + tried[(platform, test, size)]
            beyond = targets.give_up_beyond
            misses = [_miss(n, precision, targets.value, limit - attempts + n, beyond)]
            ratio_precision, has_ratio, few_pairs = None, platform != baseline and bool(base), n
            if has_ratio:
                pairs = [(a[metric], b[metric]) for a, b in block_pairs(by_rep, base)]
                ratio_precision = paired_ratio(pairs).precision
                misses.append(
                    _miss(len(pairs), ratio_precision, targets.ratio, limit - n + len(pairs), beyond)
                )
                # Too few pairs to judge (cells measured again after a failure have none):
                # enough new blocks for the first round's count of pairs.
                few_pairs = n + targets.min_repetitions - len(pairs)
            misses = [miss for miss in misses if miss]
            reached = not misses
            at_max = attempts >= limit
            gave_up = bool(misses) and all(lost for _, lost in misses)
            configurations.append(
                Configuration(
                    platform, test, size, n, precision, has_ratio, ratio_precision, reached, at_max, gave_up
                )
            )
            want = max([n, few_pairs, *(count for count, _ in misses)])
            if not reached and not at_max and not gave_up:
                wanted[platform] = min(limit - attempts, max(want - n, 1), max(n, targets.min_repetitions))
        if not wanted:
            continue
        wanting[(test, size)] = wanted
        # The baseline goes along into every added block, past its own maximum if need be: the
        # others are paired with it, and a baseline measured minutes earlier is no pair.
        last = max(max(by_rep) for by_rep in by_platform.values())
        for step in range(1, max(wanted.values()) + 1):
            platforms = [p for p in by_platform if p in wanted and wanted[p] >= step]
            if baseline in by_platform and baseline not in platforms:
                platforms.append(baseline)
            if any(p in together for p in platforms):
                platforms += [p for p in together if p in by_platform and p not in platforms]
            add.append({"test": test, "size_bytes": size, "rep": last + step, "platforms": platforms})
    result = {"configurations": [], "add": add}
    if targets.budget_s is not None:
        result["add"], dropped, spent = within_budget(add, records, targets.budget_s, measured)
        kept = Counter((block["test"], block["size_bytes"]) for block in result["add"])
        for i, c in enumerate(configurations):
            key = (c.test, c.size_bytes)
            configurations[i] = replace(c, cut=wanting.get(key, {}).get(c.platform, 0) > kept[key])
        left_out = sum(len(block["platforms"]) for block in dropped)
        result["budget"] = {
            "budget_s": targets.budget_s,
            "spent_s": round(spent, 1),
            "left_out_cells": left_out,
        }
    result["configurations"] = [_row(c) for c in configurations]
    return result


def cell_seconds(record: dict) -> float:
    """How long a cell measured (every attempt of it), from its record's times; 0 without them."""
    if "started_at" not in record or "finished_at" not in record:
        return 0.0
    return max(0.0, seconds_of(record["finished_at"]) - seconds_of(record["started_at"]))


def within_budget(add: list[dict], records: list[dict], budget_s: float, measured=frozenset()):
    """The blocks of `add` that fit in what is left of `budget_s` seconds of cells after the
    cells in `records`: step-major (every (test, size)'s next block before any one's second, as
    the run order is repetition-major), each (test, size)'s blocks in order (once one does not
    fit, none of its later ones is added). A block's cost is its cells' predicted seconds: each
    (platform, test, size)'s median so far, else the test's; a cell in `measured` (its record
    exists: a plan made again after the budget changed) costs nothing, so that a lower budget
    never leaves out what was measured. Returns (kept, dropped, seconds spent so far)."""
    spent = sum(cell_seconds(record) for record in records)
    seconds: dict[tuple, list[float]] = {}
    for record in records:
        for key in ((record["platform"], record["test"], record["size_bytes"]), record["test"]):
            seconds.setdefault(key, []).append(cell_seconds(record))

    def cost(block: dict) -> float:
        test, size = block["test"], block["size_bytes"]
        return sum(
            statistics.median(seconds.get((p, test, size)) or seconds.get(test) or [0.0])
            for p in block["platforms"]
            if (p, test, size, block["rep"]) not in measured
        )

    chain: dict[tuple, list[int]] = {}  # (test, size) -> its blocks' indices, in order
    for index, block in enumerate(add):
        chain.setdefault((block["test"], block["size_bytes"]), []).append(index)
    taken, left = dict.fromkeys(chain, 0), budget_s - spent
    for step in range(1, max(map(len, chain.values()), default=0) + 1):
        for key, indices in chain.items():
            if taken[key] == step - 1 and step <= len(indices):
                needs = cost(add[indices[step - 1]])
                if needs <= max(left, 0.0):  # what was measured fits even a budget spent
                    taken[key], left = step, left - needs
    kept = {index for key, indices in chain.items() for index in indices[: taken[key]]}
    return (
        [block for index, block in enumerate(add) if index in kept],
        [block for index, block in enumerate(add) if index not in kept],
        spent,
    )


def _row(configuration: Configuration) -> dict:
    row = asdict(configuration)
    for key in ("precision", "ratio_precision"):
        if row[key] is not None and math.isinf(row[key]):
            row[key] = None  # JSON has no infinity: undefined
    return row


def progress_line(result: dict, targets: Targets) -> str:
    """What a finished round tells the terminal."""
    rows = result["configurations"]
    failed = f", {result['failed_cells']} failed" if result.get("failed_cells") else ""
    head = f"precision round {result['round']} ({result['cells']} cells{failed})"
    ratios = [row for row in rows if row["has_ratio"]]
    reached = sum(row["reached"] for row in rows)
    ratios_reached = sum(
        row["ratio_precision"] is not None and row["ratio_precision"] <= targets.ratio for row in ratios
    )
    line = (
        f"{head}: {reached} of {len(rows)} configurations reached their targets "
        f"(ratios within +-{targets.ratio:.0%}: {ratios_reached} of {len(ratios)})"
    )
    budget = result.get("budget")
    if budget:
        spent, whole = budget["spent_s"] / 60, budget["budget_s"] / 60
        line += f"; {spent:.3g} of the time budget's {whole:.3g} min of cells spent"
        if budget["left_out_cells"]:
            line += f", which leaves out {budget['left_out_cells']} cells the targets wanted"
    blocks = result["add"]
    if blocks:
        cells = sum(len(block["platforms"]) for block in blocks)
        return f"{line}; round {result['round'] + 1} adds {cells} cells in {len(blocks)} blocks"
    return f"{line}; no round follows"


def read_plans(directory: str = "results/precision") -> list[dict]:
    """The plans of the rounds so far, in order: round 1, 2, ... up to the first that is
    missing or adds nothing."""
    plans = []
    while os.path.exists(path := os.path.join(directory, f"round{len(plans) + 1}.json")):
        with open(path) as stream:
            plans.append(json.load(stream))
        if not plans[-1]["add"]:
            break
    return plans


def per_platform_lines(plan: dict, targets: Targets) -> list[str]:
    """The same, platform by platform, with the repetitions they took."""
    lines = []
    for platform in dict.fromkeys(row["platform"] for row in plan["configurations"]):
        rows = [row for row in plan["configurations"] if row["platform"] == platform]
        means = sum(row["precision"] is not None and row["precision"] <= targets.value for row in rows)
        line = f"  {platform}: means {means} of {len(rows)}"
        ratios = [row["ratio_precision"] for row in rows if row["has_ratio"]]
        if ratios:
            line += f", ratios {sum(r is not None and r <= targets.ratio for r in ratios)} of {len(ratios)}"
        low, high = min(row["n"] for row in rows), max(row["n"] for row in rows)
        lines.append(f"{line}; {low if low == high else f'{low}-{high}'} repetitions")
    return lines


def reached_line(plan: dict, targets: Targets) -> str:
    """Where the run's precision ended: how many configurations and ratios reached their
    targets, and the widest of those that did not."""
    rows = plan["configurations"]
    value_ok = [row for row in rows if row["precision"] is not None and row["precision"] <= targets.value]
    ratios = [row for row in rows if row["has_ratio"]]
    ratio_ok = [
        r for r in ratios if r["ratio_precision"] is not None and r["ratio_precision"] <= targets.ratio
    ]
    line = (
        f"precision reached in {len(value_ok)} of {len(rows)} configurations (95% interval of the mean "
        f"within +-{targets.value:.0%}) and {len(ratio_ok)} of {len(ratios)} ratios "
        f"(within +-{targets.ratio:.0%})"
    )
    gave_up = sum(row.get("gave_up", False) for row in rows)
    if gave_up:
        line += (
            f"; {gave_up} given up early (their spread put the target out of reach even at their "
            f"maximum repetitions, by over {targets.give_up_beyond:g}x)"
        )
    cut = sum(row.get("cut", False) for row in rows)  # a plan of an earlier version has none
    if cut:
        line += (
            f"; {cut} stopped short by the time budget ({plan['budget']['budget_s'] / 60:.3g} min of cells, "
            "precision.budget_minutes)"
        )
    misses = [row for row in rows if not row["reached"]]
    if misses:

        def width(row: dict) -> float:
            return max(row["precision"] or math.inf, row["ratio_precision"] or 0.0)

        widest = max(misses, key=width)
        what = "unbounded" if math.isinf(width(widest)) else f"+-{width(widest):.0%}"
        line += (
            f"; widest: {widest['platform']} {widest['test']} {widest['size_bytes']} B at {what} "
            f"after {widest['n']} repetitions"
        )
    return line
