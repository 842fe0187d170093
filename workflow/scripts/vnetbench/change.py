"""Two runs compared: did a change (a kernel, a sysctl, a patch) make the network faster or slower?

A and B are two results folders, measured at different times: they share no blocks, so each
configuration's B/A is estimated from two independent samples. Rates and latencies vary
multiplicatively, so the estimator works on logarithms: the ratio of the geometric means, with
Welch's t interval of the difference of the mean logs (unequal variances and counts allowed),
and Welch's t test of "no change". A second comparison cancels a machine that is simply faster
or slower on the day: each platform's ratio to the baseline, from the within-block pairs of each
run (precision.block_pairs), B's against A's, with the same Welch interval and test.

A change counts only when it is both significant (p below `alpha`) and at least `min_effect`:
between two runs of the same config, a shared machine drifts by several percent, which a
within-run interval does not see; the minimum effect keeps that drift from being called a change
(bench/change_false_alarms.py measures how often it still is). Verdicts: faster, slower, same
(the whole interval lies within +-min_effect: no change that matters), or undecided.
"""

import json
import math
import os
import shlex
import statistics
from dataclasses import dataclass, field

from .errors import VnetbenchError
from .metrics import EXTRA, RATES, value
from .precision import block_pairs, paired_ratio
from .records import RecordError, load
from .stats import t_cdf, t_quantile

LEVEL = 0.95
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
    n_a: int
    n_b: int
    a: float  # geometric mean (absolute) or ratio to the baseline (relative)
    b: float
    ratio: float  # B / A
    low: float
    high: float
    p_value: float
    verdict: str


def welch_log(a: list[float], b: list[float]) -> tuple[float, float, float, float]:
    """(B/A, low, high, p) from the logs of two independent samples: ratio of geometric means,
    Welch's 95% t interval and two-sided t test of no change. NaN/1.0 with too few values."""
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan, math.nan, 1.0
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    diff = statistics.fmean(lb) - statistics.fmean(la)
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    se = math.sqrt(va + vb)
    if se == 0:
        return math.exp(diff), math.exp(diff), math.exp(diff), 0.0 if diff else 1.0
    df = (va + vb) ** 2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))
    df = max(1.0, df)  # Welch's degrees of freedom need not be whole
    half = t_quantile(0.5 + LEVEL / 2, df) * se
    p = 2 * (1 - t_cdf(abs(diff) / se, df))
    return math.exp(diff), math.exp(diff - half), math.exp(diff + half), p


def verdict(
    metric: str, ratio: float, low: float, high: float, p: float, alpha: float, min_effect: float
) -> str:
    if math.isnan(ratio):
        return "undecided"
    if p < alpha and abs(math.log(ratio)) >= math.log1p(min_effect):
        better = ratio > 1 if metric in HIGHER_IS_BETTER else ratio < 1
        return "faster" if better else "slower"
    if 1 / (1 + min_effect) <= low and high <= 1 + min_effect:
        return "same"
    return "undecided"


def _groups(records: list[dict]) -> dict[tuple[str, str, int], dict[int, dict]]:
    groups: dict[tuple[str, str, int], dict[int, dict]] = {}
    for record in records:
        groups.setdefault((record["platform"], record["test"], record["size_bytes"]), {})[record["rep"]] = (
            record
        )
    return groups


def _values(by_rep: dict[int, dict], metric: str) -> list[float]:
    return [v for record in by_rep.values() if (v := value(record, metric)) is not None and v > 0]


def compare(a: Run, b: Run, baseline: str = "native", alpha: float = 0.01, min_effect: float = 0.10,
            relative_min_effect: float = 0.05) -> list[Change]:  # fmt: skip
    """Every configuration and metric present in both runs, absolute and (where the baseline was
    measured in both) relative to the baseline."""
    ga, gb = _groups(a.records), _groups(b.records)
    common = sorted(ga.keys() & gb.keys(), key=lambda key: (key[1], key[2], key[0]))
    if not common:
        raise RunError(
            f"A and B have no configuration (platform, test, size) in common: A has "
            f"{_describe(ga)}, B has {_describe(gb)}"
        )
    changes = []

    def add(
        kind: str, key: tuple[str, str, int], metric: str, va: list[float], vb: list[float], margin: float
    ):
        if va and vb:
            ratio, low, high, p = welch_log(va, vb)
            changes.append(
                Change(kind, *key, metric, len(va), len(vb), _geomean(va), _geomean(vb), ratio, low, high, p,
                       verdict(metric, ratio, low, high, p, alpha, margin))
            )  # fmt: skip

    for key in common:
        platform, test, size = key
        base = (baseline, test, size)
        for metric in METRICS:
            add("absolute", key, metric, _values(ga[key], metric), _values(gb[key], metric), min_effect)
            if platform != baseline and base in ga.keys() & gb.keys():
                pa, pb = _pair_ratios(ga[key], ga[base], metric), _pair_ratios(gb[key], gb[base], metric)
                add("relative", key, metric, pa, pb, relative_min_effect)
    return changes


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


def _describe(groups: dict) -> str:
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


def side_by_side(a: Run, b: Run) -> list[tuple[str, str, str]]:
    """(what, A, B) for the provenance facts a reader checks first."""

    def facts(run: Run) -> dict[str, str]:
        p = run.provenance
        hosts = p.get("hosts", {})
        out = {
            "vnetbench commit": p.get("vnetbench_commit", "?"),
            "config sha256": (p.get("config_sha256") or "?")[:16],
            "snakemake": p.get("snakemake_version", "?"),
            "link rate": p.get("link_rate", "?"),
            "written at": p.get("written_at", "?"),
        }
        for host, fact in sorted(hosts.items()):
            out[f"{host}: kernel"] = fact.get("kernel", "?")
            out[f"{host}: netperf"] = fact.get("netperf_version", "?")
        if p.get("guests"):
            out["guests"] = f"{p['guests'].get('accel', '?')} ({p['guests'].get('kernel_release', '?')})"
        return out

    fa, fb = facts(a), facts(b)
    return [(key, fa.get(key, "-"), fb.get(key, "-")) for key in dict.fromkeys([*fa, *fb])]


def regressions(changes: list[Change], gate: tuple[str, ...]) -> list[Change]:
    """The changes that fail a CI job: slower, on a gating metric."""
    return [c for c in changes if c.verdict == "slower" and c.metric in gate]


def summary_markdown(
    a: Run, b: Run, changes: list[Change], gate: tuple[str, ...], alpha: float, min_effect: float,
    relative_min_effect: float, baseline: str,
) -> str:  # fmt: skip
    """Provenance side by side and what differs, then the regressions, the improvements, and a
    count of the rest."""
    lines = [
        "# B against A: did the change make the network faster or slower?",
        "",
        f"- A: `{a.folder}` ({len(a.records)} records); B: `{b.folder}` ({len(b.records)} records)",
        f"- Estimator: B/A as the ratio of geometric means, with Welch's 95% t interval of the mean logs "
        f"(two independent runs: no shared blocks); Welch's t test of no change. A change counts when "
        f"p < {alpha:g} and it is at least {min_effect:.0%} ({relative_min_effect:.0%} for a platform's "
        f"ratio to {baseline}, which cancels a machine that is simply faster or slower). `same`: the "
        f"interval lies within that margin. Gating metrics: {', '.join(gate)}.",
        "",
        "| | A | B |",
        "| --- | --- | --- |",
    ]
    for what, fa, fb in side_by_side(a, b):
        mark = "" if fa == fb else " **(differs)**"
        lines.append(f"| {what}{mark} | {fa} | {fb} |")
    diffs = differences(a, b)
    if diffs:
        lines += ["", "**Warning: A and B did not measure the same things:**", ""]
        lines += [f"- {line}" for line in diffs]
    for title, wanted in (("Regressions (slower)", "slower"), ("Improvements (faster)", "faster")):
        rows = [c for c in changes if c.verdict == wanted]
        lines += ["", f"## {title}: {len(rows)}", ""]
        if rows:
            lines += ["| kind | platform | test | size (B) | metric | A | B | B/A [95% CI] | p | gates |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
            for c in sorted(
                rows, key=lambda c: (c.metric not in gate, abs(math.log(c.ratio))), reverse=False
            ):
                gates = "yes" if c.metric in gate else "no"
                lines.append(
                    f"| {c.kind} | {c.platform} | {c.test} | {c.size_bytes} | {c.metric} | {c.a:.4g} "
                    f"| {c.b:.4g} | {c.ratio:.3f} [{c.low:.3f}, {c.high:.3f}] | {c.p_value:.2g} | {gates} |"
                )
    counts = {v: sum(c.verdict == v for c in changes) for v in ("same", "undecided")}
    lines += [
        "",
        f"## The rest: {counts['same']} the same (within the margin), {counts['undecided']} undecided",
        "",
        f"{len(changes)} comparisons in all (absolute and relative, every metric both runs measured).",
    ]
    return "\n".join(lines) + "\n"


def table_rows(changes: list[Change]) -> list[dict]:
    return [c.__dict__ for c in changes]
