"""Cell records of one figure -> one tidy table (one row per platform x size x metric),
with the paper's columns, intervals, and flags for results that deserve suspicion."""

import math
from dataclasses import asdict, dataclass

import pandas as pd

from .metrics import TARGETED, UNITS, present, value
from .precision import value_precision
from .stats import outliers, summarize

COLUMNS = [
    "figure", "platform", "label", "test", "size_bytes", "metric", "unit",
    "n", "mean", "std", "cv", "median", "min", "max",
    "mean_ci_low", "mean_ci_high", "median_ci_low", "median_ci_high", "median_ci_level",
    "precision", "precision_target", "flags", "missing",
]  # fmt: skip

#: What each flag means; the report prints this table.
FLAGS = {
    "high_cv": "coefficient of variation above the configured threshold (cv_threshold)",
    "few_transactions": "an RR repetition completed fewer transactions than min_transactions: its rate is "
    "quantised by the transactions that fit in the run",
    "udp_loss": "a UDP_STREAM repetition received fewer datagrams than were sent",
    "outlier": "a repetition lies far outside the others: modified z-score |x - median| / (1.4826 MAD) "
    "above 3.5 (Iglewicz and Hoaglin), or, when most values are equal, more than 1% off the median; "
    "the repetitions follow the flag (outlier:3)",
    "starved": "under load or with parallel flows, a repetition in which a flow or a probe moved nothing: "
    "the others left it no share of the path (its record's load.starved names it); the flows' sum "
    "counts it as 0, a starved probe has no latency; the repetitions follow the flag (starved:2,7)",
    "low_coverage": "too few repetitions for a 95% interval of the median: the interval is [min, max] "
    "and median_ci_level says its coverage",
    "imprecise": "the precision target was not reached: the half-width of the 95% interval of the mean, "
    "relative to the mean (precision), is above precision_target after the most repetitions allowed, or "
    "after fewer where its spread showed the target out of reach even at that maximum (the run's summary "
    "counts them as given up)",
    "no_value": "repetitions whose runs did not give this metric (a latency percentile of a run with too few "
    "transactions for it: netperf reports 0, which is no latency), listed after the flag (no_value:1,2); "
    "the statistics are of the others, and a row with n = 0 has none",
    "missing": "repetitions that could not be measured (their cells failed; the run's summary and their "
    "logs say why), listed after the flag (missing:1,2); the statistics are of the others, and a row "
    "with n = 0 has no values at all. The column `missing` counts them; the next run measures them",
}


@dataclass(frozen=True)
class Thresholds:
    cv: float = 0.05
    min_transactions: int = 100
    level: float = 0.95
    precision: float | None = None  # the value target of a precision run; None without one


def figure_table(
    figure: str,
    test: str,
    labels: dict[str, str],
    records: list[dict],
    thresholds: Thresholds = Thresholds(),
    failed: list[dict] = (),
) -> pd.DataFrame:
    """Summarize the records of one figure; `labels` orders the platforms. `failed`: the failure
    placeholders of its cells that could not be measured (named in the flags and `missing`)."""
    labels = resolve_labels(labels, records)
    metrics = present(test, records)
    order = {name: index for index, name in enumerate(labels)}
    groups = group_records(records, test)
    lost = missing_reps(failed)
    rows = []
    for platform, size in sorted(groups.keys() | lost.keys(), key=lambda key: (order[key[0]], key[1])):
        reps = lost.get((platform, size), [])
        gone = [f"missing:{','.join(map(str, reps))}"] if reps else []
        if (platform, size) not in groups:
            for metric in metrics:
                rows.append(
                    {"figure": figure, "platform": platform, "label": labels[platform], "test": test,
                     "size_bytes": size, "metric": metric, "unit": UNITS[metric], "n": 0,
                     "precision_target": thresholds.precision, "flags": ";".join(gone), "missing": len(reps)}
                )  # fmt: skip
            continue
        whole = sorted(groups[(platform, size)], key=lambda record: record["rep"])
        for metric in metrics:
            group = [record for record in whole if value(record, metric) is not None]
            values = [value(record, metric) for record in group]
            absent = (
                [f"no_value:{','.join(str(r['rep']) for r in whole if r not in group)}"]
                if len(group) < len(whole)
                else []
            )
            if not values:
                rows.append(
                    {"figure": figure, "platform": platform, "label": labels[platform], "test": test,
                     "size_bytes": size, "metric": metric, "unit": UNITS[metric], "n": 0,
                     "precision_target": thresholds.precision, "flags": ";".join(absent + gone),
                     "missing": len(reps)}
                )  # fmt: skip
                continue
            summary = summarize(values, thresholds.level)
            rows.append(
                {
                    "figure": figure,
                    "platform": platform,
                    "label": labels[platform],
                    "test": test,
                    "size_bytes": size,
                    "metric": metric,
                    "unit": UNITS[metric],
                    **asdict(summary),
                    "precision": finite_or_nan(value_precision(values)),
                    "precision_target": thresholds.precision,
                    "flags": ";".join(
                        flags(group, values, summary, thresholds, metric in TARGETED) + absent + gone
                    ),
                    "missing": len(reps),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def missing_reps(failed: list[dict]) -> dict[tuple[str, int], list[int]]:
    """(platform, size) -> the repetitions whose cells failed."""
    lost: dict[tuple[str, int], list[int]] = {}
    for placeholder in failed:
        lost.setdefault((placeholder["platform"], placeholder["size_bytes"]), []).append(placeholder["rep"])
    return {key: sorted(reps) for key, reps in lost.items()}


def resolve_labels(labels: dict[str, str], records: list[dict]) -> dict[str, str]:
    """Fill a label's {accel} with the accelerator its platform's records name (TCG, KVM),
    so that a legend says what was measured rather than what was hoped for."""
    resolved = {}
    for platform, label in labels.items():
        if "{accel}" in label:
            used = {
                r["guest"]["accel"].upper() for r in records if r["platform"] == platform and "guest" in r
            }
            label = label.replace("{accel}", "+".join(sorted(used)) or "?")
        resolved[platform] = label
    return resolved


def group_records(records: list[dict], test: str) -> dict[tuple[str, int], list[dict]]:
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in records:
        if record["test"] != test:
            raise ValueError(
                f"record {record['platform']}/{record['test']}/{record['size_bytes']} is not {test}"
            )
        groups.setdefault((record["platform"], record["size_bytes"]), []).append(record)
    return groups


def flags(
    records: list[dict], values: list[float], summary, thresholds: Thresholds, rate: bool = True
) -> list[str]:
    """The flags of one row; `rate`: a rate, which the precision target is about."""
    found = []
    if summary.cv > thresholds.cv:
        found.append("high_cv")
    if any(
        (r.get("transactions") or thresholds.min_transactions) < thresholds.min_transactions for r in records
    ):
        found.append("few_transactions")
    if any(
        r.get("datagrams_sent") is not None and r["datagrams_sent"] != r["datagrams_received"]
        for r in records
    ):
        found.append("udp_loss")
    starved = [str(r["rep"]) for r in records if r.get("load", {}).get("starved")]
    if starved:
        found.append("starved:" + ",".join(starved))
    far = outliers(values)
    if far:
        found.append("outlier:" + ",".join(str(records[i]["rep"]) for i in far))
    if summary.median_ci_level < thresholds.level:
        found.append("low_coverage")
    if rate and thresholds.precision is not None and not value_precision(values) <= thresholds.precision:
        found.append("imprecise")
    return found


def finite_or_nan(value: float) -> float:
    """Tables write an undefined precision (too few values) as NaN, not as infinity."""
    return value if math.isfinite(value) else math.nan
