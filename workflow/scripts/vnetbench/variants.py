"""A and B in one run: each variant against the platform it is another setting of.

A variant (Platform.variant_of) runs on its platform's hosts, in the same blocks, so each of
its cells has a partner of the platform measured seconds before or after it: the machine's
drift between runs, which `compare` of two runs must estimate, cancels here. Per (variant,
figure, size) the B/A is the geometric mean of the within-block ratios with the t interval of
their logarithms (precision.paired_ratio), and a verdict as `compare` gives one
(vnetbench.verdicts): a change must lie beyond the minimum effect, the figure's metric gates
(Holm over the gated tests, so that an A/A run fails with probability at most alpha), and
every metric is listed (Benjamini-Hochberg).
"""

import math
import statistics

import pandas as pd

from . import verdicts
from .metrics import RATES, present, value
from .precision import block_pairs

COLUMNS = [
    "variant", "platform", "test", "size_bytes", "metric", "n", "ratio", "ratio_ci_low", "ratio_ci_high",
    "p_value", "p_holm", "p_bh", "verdict", "gates",
]  # fmt: skip


def variant_table(
    records: list[dict], variants: dict[str, str], metric_of: dict[str, str], alpha: float = 0.01,
    margin: float = 0.05,
) -> pd.DataFrame:  # fmt: skip
    """`variants`: variant -> its platform; `metric_of`: test -> the metric its figures gate on."""
    groups: dict[tuple[str, str, int], dict[int, dict]] = {}
    for record in records:
        groups.setdefault((record["platform"], record["test"], record["size_bytes"]), {})[record["rep"]] = (
            record
        )
    rows, estimates = [], []
    for variant, platform in variants.items():
        for (name, test, size), mine in sorted(groups.items()):
            if name != variant or (platform, test, size) not in groups:
                continue
            pairs = block_pairs(mine, groups[(platform, test, size)])
            for metric in present(test, [r for pair in pairs for r in pair]):
                if test in metric_of and metric in RATES and metric != metric_of[test]:
                    continue  # a request/response test's Mbit/s repeats its transactions/s
                logs = [
                    math.log(x / y) for a, b in pairs
                    if (x := value(a, metric) or 0) > 0 and (y := value(b, metric) or 0) > 0
                ]  # fmt: skip
                rows.append({"variant": variant, "platform": platform, "test": test, "size_bytes": size,
                             "metric": metric, "n": len(logs)})  # fmt: skip
                estimates.append(_estimate(logs))
    tested = [i for i, e in enumerate(estimates) if isinstance(e, verdicts.Estimate)]
    p = {i: verdicts.beyond_margin_p(estimates[i], margin) for i in tested}
    bh = dict(zip(tested, verdicts.benjamini_hochberg([p[i] for i in tested]), strict=True))
    gated = [i for i in tested if rows[i]["metric"] == metric_of.get(rows[i]["test"])]
    holm = dict(zip(gated, verdicts.holm([p[i] for i in gated]), strict=True))
    for i, row in enumerate(rows):
        estimate = estimates[i]
        if isinstance(estimate, str):
            row |= {
                "ratio": math.nan,
                "ratio_ci_low": math.nan,
                "ratio_ci_high": math.nan,
                "verdict": estimate,
            }
        else:
            ratio, low, high = verdicts.interval(estimate)
            found = verdicts.verdict(estimate, bh[i], alpha, margin, row["metric"] in RATES)
            row |= {"ratio": ratio, "ratio_ci_low": low, "ratio_ci_high": high, "verdict": found}
        row |= {"p_value": p.get(i, math.nan), "p_holm": holm.get(i, math.nan), "p_bh": bh.get(i, math.nan)}
        row["gates"] = row["verdict"] == "slower" and i in holm and holm[i] < alpha
    return pd.DataFrame(rows, columns=COLUMNS)


def _estimate(logs: list[float]) -> verdicts.Estimate | str:
    if len(logs) < 2:
        return "too_few"
    spread = statistics.stdev(logs)
    if spread == 0:
        return "no_spread"
    return verdicts.Estimate(statistics.fmean(logs), spread / math.sqrt(len(logs)), len(logs) - 1)


def summary_markdown(table: pd.DataFrame, alpha: float, margin: float) -> str:
    gated = table["p_holm"].notna().sum()
    lines = [
        "# Variants: A and B measured in the same blocks",
        "",
        f"Each variant against its platform: B/A as the geometric mean of the within-block ratios with the "
        f"95% t interval of their logarithms. A change counts when it lies beyond +-{margin:.0%}. "
        f"**{gated} gated tests** (each test's figure metric): family-wise error at most {alpha:g} (Holm). "
        f"**{table['p_bh'].notna().sum()} tests listed**: false discovery rate at most {alpha:g} "
        f"(Benjamini-Hochberg). **{int(table['gates'].sum())} gated regressions.**",
        "",
        "| variant | of | test | size (B) | metric | n | B/A [95% CI] | p (Holm) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.itertuples():
        interval = (
            "-"
            if math.isnan(row.ratio)
            else f"{row.ratio:.3f} [{row.ratio_ci_low:.3f}, {row.ratio_ci_high:.3f}]"
        )
        holm = "-" if math.isnan(row.p_holm) else f"{row.p_holm:.2g}"
        lines.append(
            f"| {row.variant} | {row.platform} | {row.test} | {row.size_bytes} | {row.metric} | {row.n} "
            f"| {interval} | {holm} | {row.verdict} |"
        )
    lines += ["", "| verdict | meaning |", "| --- | --- |"]
    lines += [f"| {name} | {meaning} |" for name, meaning in verdicts.MEANINGS.items()]
    return "\n".join(lines) + "\n"
