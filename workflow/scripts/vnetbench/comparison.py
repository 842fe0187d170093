"""Platforms against a baseline (paired ratios with their intervals), and our results beside
the paper's: its largest coefficients of variation and its claims."""

import math

import pandas as pd

from .aggregate import finite_or_nan, group_records, missing_reps, resolve_labels
from .metrics import TARGETED, value
from .precision import block_pairs, paired_ratio
from .stats import t_quantile

RATIO_COLUMNS = [
    "figure", "platform", "label", "baseline", "test", "size_bytes", "metric",
    "ratio", "ratio_ci_low", "ratio_ci_high", "n", "precision", "precision_target", "flags",
]  # fmt: skip
ESTIMATOR = (
    "geometric mean of the within-block ratios (platform / baseline, each pair measured back to "
    "back in one block), with the 95% Student-t interval of their logarithms"
)


def ratios(
    figure: str,
    test: str,
    metric: str,
    labels: dict[str, str],
    records: list[dict],
    baseline: str,
    target: float | None = None,
    failed: list[dict] = (),
) -> pd.DataFrame:
    """Each platform over the baseline per size, from the pairs of one block each (see
    ESTIMATOR); one row per platform (in `labels` order, the baseline left out) and size.
    `target`: the precision target of a ratio, if the run has one (flag `imprecise`).
    `failed`: failure placeholders; a size where either side has no record is a row with
    n = 0 flagged `missing`."""
    labels = resolve_labels(labels, records)
    groups = group_records(records, test)
    lost = missing_reps(failed)
    rows = []
    for platform in labels:
        if platform == baseline:
            continue
        for size in sorted({size for (name, size) in groups.keys() | lost.keys() if name == platform}):
            if (baseline, size) not in groups or (platform, size) not in groups:
                if (baseline, size) in lost or (platform, size) in lost:
                    rows.append(
                        {"figure": figure, "platform": platform, "label": labels[platform],
                         "baseline": baseline, "test": test, "size_bytes": size, "metric": metric, "n": 0,
                         "precision_target": target, "flags": "missing"}
                    )  # fmt: skip
                continue
            base = {r["rep"]: r for r in groups[(baseline, size)] if value(r, metric) is not None}
            mine = {r["rep"]: r for r in groups[(platform, size)] if value(r, metric) is not None}
            pairs = [(value(a, metric), value(b, metric)) for a, b in block_pairs(mine, base)]
            if not pairs:
                continue
            estimate = paired_ratio(pairs)
            flags = []
            if metric in TARGETED and target is not None and not estimate.precision <= target:
                flags.append("imprecise")
            if (platform, size) in lost or (baseline, size) in lost:
                flags.append("missing")  # some blocks lack one side: fewer pairs
            rows.append(
                {
                    "figure": figure,
                    "platform": platform,
                    "label": labels[platform],
                    "baseline": baseline,
                    "test": test,
                    "size_bytes": size,
                    "metric": metric,
                    "ratio": estimate.ratio,
                    "ratio_ci_low": estimate.low,
                    "ratio_ci_high": estimate.high,
                    "n": estimate.n,
                    "precision": finite_or_nan(estimate.precision),
                    "precision_target": target,
                    "flags": ";".join(flags),
                }
            )
    return pd.DataFrame(rows, columns=RATIO_COLUMNS)


# Section 4.1 of the paper: the largest coefficient of variation per figure and platform.
PAPER_MAX_CV = {
    "fig3_tcp_small": {"xen": 7.89e-3, "openvz": 28.16e-3, "native": 20.91e-3},
    "fig4_tcp_medium": {"xen": 23.24e-3, "openvz": 7.59e-3, "native": 58.57e-3},
    "fig5_tcp_large": {"xen": 2.73e-1, "openvz": 2.52e-1, "native": 2.52e-1},
    "fig6_udp_small": {"xen": 15.15e-3, "openvz": 24.12e-3, "native": 88.44e-3},
    "fig7_udp_medium": {"xen": 19.68e-3, "openvz": 5.32e-3, "native": 5.39e-3},
}
SMALL_AND_MEDIUM = ("fig3_tcp_small", "fig4_tcp_medium", "fig6_udp_small", "fig7_udp_medium")


def cv_table(tables: dict[str, pd.DataFrame], metrics: dict[str, str]) -> pd.DataFrame:
    """The paper's largest CV next to ours, per figure and platform (the figure's metric)."""
    rows = []
    for figure, paper in PAPER_MAX_CV.items():
        if figure not in tables:
            continue
        table = tables[figure]
        table = table[table["metric"] == metrics[figure]]
        for platform, paper_cv in paper.items():
            ours = table[table["platform"] == platform]
            if ours.empty:
                continue
            worst = ours.loc[ours["cv"].idxmax()] if ours["cv"].notna().any() else None
            rows.append(
                {
                    "figure": figure,
                    "platform": platform,
                    "paper_max_cv": paper_cv,
                    "our_max_cv": None if worst is None else float(worst["cv"]),
                    "our_max_cv_size_bytes": None if worst is None else int(worst["size_bytes"]),
                    "repetitions": int(ours["n"].min()),
                }
            )
    return pd.DataFrame(rows)


# What a platform of the embedded testbed cannot stand for: the paper's Xen guest ran its own
# kernel behind netfront, netback and dom0's bridge; the lab's `xen` is a namespace behind a
# bridge on the host's kernel, with none of that cost.
NOT_REPRESENTED = {
    "xen": "the Xen-style platform of the embedded testbed is a network namespace behind a bridge, on the "
    "host's own kernel: it has no guest kernel, netfront or netback, so it cannot stand for the paper's Xen "
    "guest, and this claim about a hypervisor against containers cannot be judged here "
    "(add the uml platform: a guest with its own kernel)",
}
# On the embedded testbed, the platform of each kind that stands for the paper's: the Xen guest
# is best stood for by a guest with its own kernel behind the bridge (uml), else by the bridged
# namespace, which cannot represent it (NOT_REPRESENTED).
PAPER_KINDS = {"native": ("native",), "openvz": ("openvz",), "xen": ("uml", "xen")}


def stand_ins(embedded: dict[str, str | None]) -> dict[str, str]:
    """The paper's platform -> ours that stands for it: by embedded kind on the embedded testbed
    (the first platform of the first kind that is there), else by name (native, openvz, xen)."""
    if not any(embedded.values()):
        return {paper: paper for paper in PAPER_KINDS}
    found = {}
    for paper, kinds in PAPER_KINDS.items():
        ours = [name for kind in kinds for name, of in embedded.items() if of == kind]
        if ours:
            found[paper] = ours[0]
    return found


def judge_claims(
    ratio_rows: pd.DataFrame, margin: float = 0.05, embedded: dict[str, str | None] | None = None
) -> pd.DataFrame:
    """The paper's qualitative claims, each judged on the ratio rows of the `_vs_` tables
    (columns figure, platform, baseline, size_bytes, ratio, ratio_ci_low, ratio_ci_high, n): the
    very estimates the tables and plots show. A comparison counts only where its interval lies
    wholly beyond the minimum effect (`margin`: below 1/(1 + margin) or above 1 + margin), and
    the intervals of one claim are simultaneous: each at level 1 - 0.05/m over the claim's m
    comparisons (Bonferroni), so that the claim's count errs with probability at most 5% in all.
    `embedded`: platform -> its embedded kind, which says which platform stands for each of the
    paper's (stand_ins) and which claims the lab cannot represent."""
    embedded = embedded or {}
    ours = stand_ins(embedded)
    verdicts = []

    def points(numerator: str, denominator: str, figures=None) -> list[tuple[str, int, float, float, float]]:
        top, bottom = ours.get(numerator), ours.get(denominator)
        rows = ratio_rows[(ratio_rows["platform"] == top) & (ratio_rows["baseline"] == bottom)]
        rows = rows[rows["n"] > 1]  # a configuration without an interval tells nothing
        if figures is not None:
            rows = rows[rows["figure"].isin(figures)]
        rows = rows.sort_values(["figure", "size_bytes"])
        return [(r.figure, int(r.size_bytes), *_simultaneous(r, len(rows))) for r in rows.itertuples()]

    def not_represented(*platforms: str) -> str | None:
        kinds = [embedded.get(ours.get(p)) for p in platforms]
        return next((NOT_REPRESENTED[kind] for kind in kinds if kind in NOT_REPRESENTED), None)

    def named(paper: str) -> str:
        return paper if ours.get(paper, paper) == paper else f"{paper} ({ours[paper]})"

    beyond = f"beyond +-{margin:.0%} (simultaneous intervals)"
    # 1. Native beats the virtualized platforms in most cases.
    found = points("openvz", "native") + points("xen", "native")
    worse, better = _beyond(found, margin)
    verdicts.append(
        _verdict(
            "Native beats the virtualized platforms in most cases",
            found,
            worse > len(found) / 2,
            better > len(found) / 2,
            f"virtualized ({named('openvz')}, {named('xen')})/native {beyond} below 1 in {worse} of "
            f"{len(found)} comparisons, above 1 in {better}",
        )
    )
    # 2. OpenVZ beats Xen, mainly for small and medium messages.
    found = points("openvz", "xen", SMALL_AND_MEDIUM)
    below, above = _beyond(found, margin)
    verdicts.append(
        _verdict(
            "OpenVZ beats Xen, mainly for small and medium messages",
            found,
            above > len(found) / 2,
            below > len(found) / 2,
            f"{named('openvz')}/{named('xen')} {beyond} above 1 in {above} of {len(found)} "
            "small and medium comparisons, "
            f"below 1 in {below}",
            not_represented("xen"),
        )
    )
    # 3. OpenVZ comes close to native at some sizes.
    found = points("openvz", "native")
    near = [p for p in found if 1 / (1 + margin) <= p[3] and p[4] <= 1 + margin]
    far = [p for p in found if p[4] < 1 / (1 + margin) or p[3] > 1 + margin]
    sizes = ", ".join(f"{figure} {size} B" for figure, size, *_ in near[:6])
    verdicts.append(
        _verdict(
            "OpenVZ comes close to native at some sizes",
            found,
            bool(near),
            bool(found) and len(far) == len(found),
            f"{named('openvz')}/native simultaneous interval within +-{margin:.0%} "
            f"at {len(near)} of {len(found)} sizes" + (f" ({sizes})" if sizes else ""),
        )
    )
    return pd.DataFrame(verdicts)


def _simultaneous(row, m: int) -> tuple[float, float, float]:
    """(ratio, low, high) of a ratio row at level 1 - 0.05/m, from its 95% t interval of the
    log-ratio over n blocks."""
    half = math.log(row.ratio_ci_high / row.ratio)
    wider = t_quantile(1 - 0.025 / max(m, 1), int(row.n) - 1) / t_quantile(0.975, int(row.n) - 1)
    return row.ratio, row.ratio * math.exp(-half * wider), row.ratio * math.exp(half * wider)


def _beyond(points: list, margin: float) -> tuple[int, int]:
    """How many intervals lie wholly below 1/(1 + margin), and how many wholly above 1 + margin."""
    below = sum(1 for *_, _, high in points if high < 1 / (1 + margin))
    return below, sum(1 for *_, low, _ in points if low > 1 + margin)


def _verdict(claim: str, points: list, supported: bool, contradicted: bool, evidence: str,
             not_represented: str | None = None) -> dict:  # fmt: skip
    if not points:
        verdict, evidence = "not applicable", "this config lacks the platforms or figures the claim is about"
    elif not_represented:
        verdict, evidence = "not represented", f"{not_represented} ({evidence})"
    else:
        verdict = "supported" if supported else "contradicted" if contradicted else "inconclusive"
    return {"claim": claim, "verdict": verdict, "evidence": evidence}


def paper_markdown(cvs: pd.DataFrame, claims: pd.DataFrame, protocol: str, failed: list[dict] = ()) -> str:
    lines = [
        "# Our results beside the paper's",
        "",
        "Schmidt et al. (2007) measured 10 repetitions of 10 s per size between two Pentium IV",
        f"machines over a 100 Mbit/s switch. These results: {protocol} per size on this testbed.",
        "Read the comparison with that difference in mind.",
        "",
    ]
    if failed:
        counts = pd.Series([f["platform"] for f in failed]).value_counts()
        named = ", ".join(f"{platform} ({count} cells)" for platform, count in counts.items())
        lines += [
            f"**Not measured in this run: {named}.** Their cells failed (the run's summary and their logs "
            "say why); everything below is drawn from the cells that were measured.",
            "",
        ]
    lines += [
        "## Largest coefficient of variation per figure and platform",
        "",
        "| figure | platform | paper | ours | at size (bytes) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in cvs.itertuples():
        ours = "n/a" if pd.isna(row.our_max_cv) else f"{row.our_max_cv:.2e}"
        size = "" if pd.isna(row.our_max_cv_size_bytes) else str(int(row.our_max_cv_size_bytes))
        lines.append(f"| {row.figure} | {row.platform} | {row.paper_max_cv:.2e} | {ours} | {size} |")
    lines += [
        "",
        "## The paper's claims, judged on our data",
        "",
        "A comparison counts only where the interval of the ratio lies wholly beyond +-5% (a difference",
        "that matters), with the intervals of one claim simultaneous (Bonferroni over its comparisons);",
        f"the ratio is the {ESTIMATOR}.",
        "",
        "| claim | verdict | evidence |",
        "| --- | --- | --- |",
    ]
    for row in claims.itertuples():
        lines.append(f"| {row.claim} | **{row.verdict}** | {row.evidence} |")
    return "\n".join(lines) + "\n"
