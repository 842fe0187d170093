"""Two results compared: did a change (a kernel, a sysctl, a patch) make the network faster or
slower?

A and B are each one results folder or several (replicates: runs of one setting, one after the
other). Rates and latencies vary multiplicatively, so each quantity is compared on logarithms:
B/A as the ratio of geometric means, with Welch's t interval (unequal variances and counts). Two
kinds: *absolute* (the values), and *relative* (each platform's ratio to the baseline, from the
within-block pairs of each run), which cancels a machine that is simply faster or slower on the
day.

Two runs on one machine differ by more than their repetitions say. With replicates on both
sides, a side's values are its runs' geometric means, so that the interval is the spread
between runs. With one run per side, the drift between runs is estimated from the data
(vnetbench.verdicts.drift) and added to every interval, and the minimum effect still applies.
Verdicts, p-values and their corrections for the number of tests: vnetbench.verdicts.
"""

import json
import math
import os
import shlex
import statistics
from dataclasses import dataclass, field

from . import verdicts
from .errors import VnetbenchError
from .metrics import EXTRA, RATES, value
from .precision import block_pairs, paired_ratio
from .records import RecordError, load

# Metrics where more is better (rates); for the others (latency, CPU) less is better.
HIGHER_IS_BETTER = set(RATES)
METRICS = ("throughput_mbit_s", "transactions_per_s", *EXTRA["latency"], *EXTRA["cpu"])


class RunError(VnetbenchError):
    """A folder or record that cannot be compared; names the culprit."""


@dataclass(frozen=True)
class Run:
    folder: str
    records: list[dict]
    provenance: dict = field(default_factory=dict)


def load_run(folder: str, name: str) -> Run:
    """The records (failure placeholders left out) and provenance of a results folder."""
    raw = os.path.join(folder, "raw")
    if not os.path.isdir(raw):
        raise RunError(f"{name}: {folder} is not a vnetbench results folder (no raw/ folder of cell records)")
    records = []
    for directory, _, names in sorted(os.walk(raw)):
        for file in sorted(names):
            if not file.endswith(".json") or file.startswith("."):
                continue
            path = os.path.join(directory, file)
            try:
                record = load(path)
                if record.measured:
                    _check(record.as_dict())
                    records.append(record.as_dict())
            except (OSError, RecordError, KeyError, TypeError) as error:
                raise RunError(f"{name}: {path} is not a cell record: {error}") from None
    if not records:
        raise RunError(f"{name}: {folder} holds no cell record (raw/PLATFORM/TEST/SIZE/REP.json)")
    provenance = {}
    path = os.path.join(folder, "provenance.json")
    if os.path.exists(path):
        try:
            with open(path) as stream:
                provenance = json.load(stream)
        except ValueError as error:
            raise RunError(f"{name}: {path} does not parse: {error}") from None
    return Run(folder, records, provenance)


def _check(record: dict) -> None:
    for key in ("platform", "test", "size_bytes", "rep", "throughput_mbit_s"):
        if key not in record:
            raise KeyError(f"no {key!r}")
    if not record["throughput_mbit_s"] > 0:
        raise ValueError(f"throughput_mbit_s is {record['throughput_mbit_s']!r}")


@dataclass(frozen=True)
class Change:
    kind: str  # "absolute" (B/A of the values) or "relative" (B/A of the ratio to the baseline)
    platform: str
    test: str
    size_bytes: int
    metric: str
    n_a: int  # values (one run per side) or runs (replicates) on each side
    n_b: int
    a: float  # geometric mean (absolute) or ratio to the baseline (relative)
    b: float
    ratio: float  # B / A; NaN without an interval (too_few, no_spread)
    low: float  # its 95% interval, drift between runs included
    high: float
    drift: float  # the between-run SD of log B/A added to the interval (0: none; NaN: not estimated)
    p_value: float  # one-sided, of "the change is at most the minimum effect"
    p_holm: float  # Holm-adjusted over the gated tests (NaN: not gated)
    p_bh: float  # Benjamini-Hochberg-adjusted over every test listed
    verdict: str  # a key of verdicts.MEANINGS
    gates: bool  # a gated regression: it fails the comparison


@dataclass(frozen=True)
class Comparison:
    changes: list[Change]
    replicated: bool  # several runs per side: their spread is the interval's
    drift: dict[tuple[str, str, str], float]  # (kind, test, metric) -> between-run SD of log B/A
    drift_share: dict[tuple[str, str, str], float]  # -> share of the variance of B/A that is drift
    shift: dict[tuple[str, str, str], float]  # -> the family's median B/A: where it moved as a whole
    # (configuration, metric) -> the metric it repeats in that configuration (tested once, as that one)
    redundant: dict[tuple[tuple[str, str, int], str], str]
    gate: tuple[str, ...]
    alpha: float
    min_effect: float
    relative_min_effect: float
    baseline: str

    @property
    def gated_tests(self) -> int:
        return sum(not math.isnan(c.p_holm) for c in self.changes)

    @property
    def tests(self) -> int:
        return sum(not math.isnan(c.p_bh) for c in self.changes)


def _groups(records: list[dict]) -> dict[tuple[str, str, int], dict[int, dict]]:
    groups: dict[tuple[str, str, int], dict[int, dict]] = {}
    for record in records:
        groups.setdefault((record["platform"], record["test"], record["size_bytes"]), {})[record["rep"]] = (
            record
        )
    return groups


def _values(by_rep: dict[int, dict], metric: str) -> list[float]:
    return [v for record in by_rep.values() if (v := value(record, metric)) is not None and v > 0]


def compare(a: Run | list[Run], b: Run | list[Run], baseline: str = "native", alpha: float = 0.01,
            min_effect: float = 0.10, relative_min_effect: float = 0.05,
            gate: tuple[str, ...] = ("throughput_mbit_s",)) -> Comparison:  # fmt: skip
    """Every configuration and metric present in both sides, absolute and (where the baseline was
    measured in both) relative to the baseline; each side one run or several (replicates)."""
    side_a, side_b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    ga, gb = [_groups(run.records) for run in side_a], [_groups(run.records) for run in side_b]
    keys_a, keys_b = set().union(*ga), set().union(*gb)
    common = sorted(keys_a & keys_b, key=lambda key: (key[1], key[2], key[0]))
    if not common:
        raise RunError(
            f"A and B have no configuration (platform, test, size) in common: A has "
            f"{_describe(side_a)}, B has {_describe(side_b)}"
        )
    replicated = len(side_a) > 1 and len(side_b) > 1
    redundant = _redundant([*ga, *gb])
    rows = []  # (kind, key, metric, values A, values B, margin)
    for key in common:
        platform, test, size = key
        base = (baseline, test, size)
        for metric in METRICS:
            if (key, metric) in redundant:
                continue
            absolute = [[_values(g[key], metric) if key in g else [] for g in side] for side in (ga, gb)]
            rows.append(("absolute", key, metric, *absolute, min_effect))
            if platform != baseline and base in keys_a & keys_b:
                relative = [
                    [_pair_ratios(g[key], g[base], metric) if key in g and base in g else [] for g in side]
                    for side in (ga, gb)
                ]
                rows.append(("relative", key, metric, *relative, relative_min_effect))
    rows = [row for row in rows if any(row[3]) and any(row[4])]
    estimates = [verdicts.welch(*(_sample(side, replicated) for side in row[3:5])) for row in rows]
    drift, share, shift = {}, {}, {}
    if not replicated:
        for family in dict.fromkeys(_family(row) for row in rows):
            found = [
                e for row, e in zip(rows, estimates, strict=True)
                if _family(row) == family and isinstance(e, verdicts.Estimate)
            ]  # fmt: skip
            drift[family] = tau = verdicts.drift(found)
            shift[family] = math.exp(statistics.median(e.log_ratio for e in found)) if found else math.nan
            sampling = statistics.median(e.se**2 for e in found) if found else math.nan
            share[family] = tau**2 / (tau**2 + sampling) if tau > 0 else 0.0 if tau == 0 else math.nan
    widened = [
        verdicts.with_drift(e, drift.get(_family(row), 0.0))
        if isinstance(e, verdicts.Estimate) else e
        for row, e in zip(rows, estimates, strict=True)
    ]  # fmt: skip
    tested = [i for i, e in enumerate(widened) if isinstance(e, verdicts.Estimate)]
    p = {i: verdicts.beyond_margin_p(widened[i], rows[i][5]) for i in tested}
    bh = dict(zip(tested, verdicts.benjamini_hochberg([p[i] for i in tested]), strict=True))
    gated = [i for i in tested if rows[i][2] in gate]
    holm = dict(zip(gated, verdicts.holm([p[i] for i in gated]), strict=True))
    changes = []
    for i, (kind, key, metric, va, vb, margin) in enumerate(rows):
        sample_a, sample_b = _sample(va, replicated), _sample(vb, replicated)
        estimate = widened[i]
        higher = metric in HIGHER_IS_BETTER
        if isinstance(estimate, str):
            ratio = low = high = math.nan
            found = estimate
        else:
            ratio, low, high = verdicts.interval(estimate)
            found = verdicts.verdict(estimate, bh[i], alpha, margin, higher)
        # Listed as slower (false discovery) and, on a gated metric, below alpha after Holm: so that
        # the gate keeps its family-wise error and every regression is also a listed verdict.
        regression = found == "slower" and i in holm and holm[i] < alpha
        changes.append(
            Change(kind, *key, metric, len(sample_a), len(sample_b), _geomean(sample_a), _geomean(sample_b),
                   ratio, low, high, drift.get((kind, key[1], metric), 0.0), p.get(i, math.nan),
                   holm.get(i, math.nan), bh.get(i, math.nan), found, regression)
        )  # fmt: skip
    return Comparison(changes, replicated, drift, share, shift, redundant, gate, alpha, min_effect,
                      relative_min_effect, baseline)  # fmt: skip


def _family(row: tuple) -> tuple[str, str, str]:
    """(kind, test, metric): the quantities that share a drift between runs."""
    return row[0], row[1][1], row[2]


def _sample(per_run: list[list[float]], replicated: bool) -> list[float]:
    """What a side contributes: each run's geometric mean (replicates: the spread between runs
    is the interval's), else every value of its runs."""
    if replicated:
        return [_geomean(values) for values in per_run if values]
    return [v for values in per_run for v in values]


def _redundant(groups: list[dict]) -> dict[tuple[tuple[str, str, int], str], str]:
    """Metrics that repeat another one in every record of a configuration (a constant multiple
    of it: a request/response test's Mbit/s is its transactions/s times its bytes; with both ends
    on one machine netperf's client and server CPU are one number): (configuration, metric) ->
    the metric it repeats, which is tested in its place."""
    records: dict[tuple, list[dict]] = {}
    for g in groups:
        for key, by_rep in g.items():
            records.setdefault(key, []).extend(by_rep.values())
    repeats = {}
    for key, found in records.items():
        for index, metric in enumerate(METRICS):
            for earlier in METRICS[:index]:
                if (key, earlier) not in repeats and _proportional(found, metric, earlier):
                    repeats[(key, metric)] = earlier
                    break
    return repeats


def _proportional(records: list[dict], metric: str, other: str) -> bool:
    """`metric` is one constant multiple of `other` in every record that has it (and some has)."""
    factor = None
    for r in records:
        x, y = value(r, metric), value(r, other)
        if x is None:
            continue
        if y is None or not (x > 0 and y > 0):
            return False
        factor = factor or x / y
        if abs(x / y / factor - 1) > 1e-6:
            return False
    return factor is not None


def _pair_ratios(mine: dict[int, dict], base: dict[int, dict], metric: str) -> list[float]:
    pairs = block_pairs(mine, base)
    return [x / y for r, s in pairs if (x := value(r, metric)) and (y := value(s, metric))]


def _geomean(values: list[float]) -> float:
    return geometric_interval(values)[0]


def geometric_interval(values: list[float]) -> tuple[float, float, float]:
    """One run's geometric mean of a configuration's values and the 95% t interval of their
    logarithms (a single value: no interval): precision.paired_ratio's, against 1."""
    mean = paired_ratio([(value, 1.0) for value in values])
    return (mean.ratio, mean.low, mean.high) if mean.n > 1 else (mean.ratio,) * 3


def points(run: Run, name: str, test: str, sizes: list[int] | None, metric: str) -> list[dict]:
    """The plot's points of one run: per platform and size of `test`, its geometric interval."""
    rows = []
    for (platform, of_test, size), by_rep in sorted(_groups(run.records).items()):
        values = _values(by_rep, metric) if of_test == test and (sizes is None or size in sizes) else []
        if values:
            center, low, high = geometric_interval(values)
            rows.append({"platform": platform, "run": name, "size_bytes": size, "center": center, "low": low,
                         "high": high})  # fmt: skip
    return rows


def _describe(runs: list[Run]) -> str:
    groups = set().union(*(_groups(run.records) for run in runs))
    platforms = sorted({key[0] for key in groups})
    tests = sorted({key[1] for key in groups})
    return f"{len(groups)} configurations ({', '.join(platforms)}; {', '.join(tests)})"


def differences(a: Run, b: Run) -> list[str]:
    """What A and B measured differently, each a line: configurations only one has, and, for the
    ones both have, other run lengths or kinds, netperf options or server addresses."""
    ga, gb = _groups(a.records), _groups(b.records)
    lines = []
    for name, only in (("A", ga.keys() - gb.keys()), ("B", gb.keys() - ga.keys())):
        if only:
            shown = ", ".join(f"{p} {t} {s} B" for p, t, s in sorted(only)[:6])
            lines.append(
                f"only {name} measured {len(only)} configurations: {shown}"
                + (" ..." if len(only) > 6 else "")
            )
    for key in sorted(ga.keys() & gb.keys()):
        for what, read in _MEASURED.items():
            seen_a = {json.dumps(read(r), sort_keys=True) for r in ga[key].values()}
            seen_b = {json.dumps(read(r), sort_keys=True) for r in gb[key].values()}
            if seen_a != seen_b:
                lines.append(
                    f"{key[0]} {key[1]} {key[2]} B: {what} differ: A {sorted(seen_a)}, B {sorted(seen_b)}"
                )
    return lines


def _options(record: dict) -> list[str]:
    """netperf's arguments in the record's command, without what names the hosts (-H, -p) or the
    run's length (-l: compared as run lengths)."""
    words = shlex.split(record.get("command", ""))
    start = next((i for i, word in enumerate(words) if os.path.basename(word) == "netperf"), len(words))
    keep, skip = [], False
    for word in words[start + 1 :]:
        if skip:
            skip = False
        elif word in ("-H", "-p", "-l"):
            skip = True
        else:
            keep.append(word)
    return keep


def _run_length(record: dict) -> dict:
    """How long the record's runs were meant to be: timed seconds, or a sized run's target and
    count (its amount follows the rate its calibration found, so it is no difference)."""
    run = record.get("run") or {"kind": "timed", "seconds": record.get("duration_s")}
    return {key: value for key, value in run.items() if key != "amount"}


_MEASURED = {
    "run lengths": _run_length,
    "netperf options": _options,
    # The address netperf targets (a testbed's management addresses differ between checkouts).
    "server addresses": lambda r: r.get("server_address"),
}
