"""What a comparison (vnetbench.change) tells its reader: summary.md and changes.csv.

The summary opens with the number of tests and the error rates they keep, then the
provenance of A and B side by side, what they measured differently, the drift between runs,
the gated regressions, every change listed, and the rest counted by verdict.
"""

import math

from .change import Change, Comparison, Run, differences
from .verdicts import MEANINGS


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


def regressions(comparison: Comparison) -> list[Change]:
    """The changes that fail a CI job: slower on a gated metric, after Holm's correction."""
    return [c for c in comparison.changes if c.gates]


def summary_markdown(a: list[Run], b: list[Run], comparison: Comparison) -> str:
    c = comparison
    failed = regressions(c)
    lines = [
        "# B against A: did the change make the network faster or slower?",
        "",
        f"**{c.gated_tests} gated tests** ({', '.join(c.gate)}): the family-wise error rate is at most "
        f"{c.alpha:g} (Holm), so two equal runs fail this comparison with probability at most {c.alpha:g}. "
        f"**{c.tests} tests listed** (every metric, absolute and relative): the false discovery rate is at "
        f"most {c.alpha:g} (Benjamini-Hochberg). **{len(failed)} gated regressions.**",
        "",
        _sides(a, "A") + "; " + _sides(b, "B"),
        f"- A change counts when B/A lies beyond +-{c.min_effect:.0%} ({c.relative_min_effect:.0%} for a "
        f"platform's ratio to {c.baseline}, which cancels a machine that is simply faster or slower), "
        "tested one-sided against that margin on logarithms (Welch's t), with p-values corrected for the "
        "number of tests. `same`: the 95% interval lies within the margin.",
    ]
    lines += _drift_lines(c)
    lines += _redundant_lines(c)
    lines += ["", "| | A | B |", "| --- | --- | --- |"]
    for what, fa, fb in side_by_side(a[0], b[0]):
        mark = "" if fa == fb else " **(differs)**"
        lines.append(f"| {what}{mark} | {fa} | {fb} |")
    diffs = differences(a[0], b[0])
    if diffs:
        lines += ["", "**Warning: A and B did not measure the same things:**", ""]
        lines += [f"- {line}" for line in diffs]
    lines += ["", f"## Gated regressions: {len(failed)}", ""]
    lines += _table(failed, c.gate)
    for title, wanted in (("Slower", "slower"), ("Faster", "faster")):
        rows = [change for change in c.changes if change.verdict == wanted]
        lines += ["", f"## {title} (false discovery rate at most {c.alpha:g}): {len(rows)}", ""]
        lines += _table(rows, c.gate)
    lines += ["", "## Every verdict", "", "| verdict | comparisons | meaning |", "| --- | --- | --- |"]
    for name, meaning in MEANINGS.items():
        lines.append(f"| {name} | {sum(change.verdict == name for change in c.changes)} | {meaning} |")
    return "\n".join(lines) + "\n"


def _sides(runs: list[Run], name: str) -> str:
    folders = ", ".join(f"`{run.folder}`" for run in runs)
    records = sum(len(run.records) for run in runs)
    what = f"{len(runs)} runs" if len(runs) > 1 else "1 run"
    return ("- " if name == "A" else "") + f"{name}: {what} ({folders}; {records} records)"


def _drift_lines(c: Comparison) -> list[str]:
    if c.replicated:
        return ["- Replicates on both sides: each side's values are its runs' geometric means, so every "
                "interval holds the drift between runs."]  # fmt: skip
    estimated = {family: tau for family, tau in c.drift.items() if not math.isnan(tau)}
    lines = [
        "- **One run per side: the drift between runs is not in the repetitions' spread.** It is estimated "
        "per family (one kind, test and metric over its sizes and platforms) from how far B/A spreads "
        "beyond the repetitions' intervals, and added to each interval; families with fewer than 8 "
        "configurations get no estimate, and only the minimum effect guards them. Replicate runs per side "
        "(`compare A1,A2 B1,B2`) measure it instead."
    ]
    if estimated:
        shares = sorted(c.drift_share[f] for f in estimated)
        taus = sorted(estimated.values())
        worst = max(estimated, key=estimated.get)
        median = math.expm1(taus[len(taus) // 2])
        lines.append(
            f"- Drift between runs in {len(estimated)} families: median {median:.1%} "
            f"(SD of B/A), largest {math.expm1(taus[-1]):.1%} ({worst[0]} {worst[1]} {worst[2]}); it is "
            f"{shares[len(shares) // 2]:.0%} of the variance of a configuration's B/A at the median family."
        )
    margin = {"absolute": c.min_effect, "relative": c.relative_min_effect}
    moved = {
        family: ratio for family, ratio in c.shift.items()
        if abs(math.log(ratio)) >= math.log1p(margin[family[0]])
    }  # fmt: skip
    if moved:
        named = ", ".join(
            f"{kind} {test} {metric} {ratio:.2f}x" for (kind, test, metric), ratio in moved.items()
        )
        lines.append(
            f"- **Whole families moved** (median B/A beyond the margin): {named}. With one run per side, a "
            "machine that was faster or slower and a change that moved everything look alike: the relative "
            "comparison cancels the machine, and replicates or variants tell the two apart."
        )
    return lines


def _redundant_lines(c: Comparison) -> list[str]:
    pairs: dict[tuple[str, str], int] = {}
    for (_, metric), earlier in c.redundant.items():
        pairs[(metric, earlier)] = pairs.get((metric, earlier), 0) + 1
    return [
        f"- Tested once: {metric} repeats {earlier} (a constant multiple of it) in {count} configurations."
        for (metric, earlier), count in sorted(pairs.items())
    ]


def _table(rows: list[Change], gate: tuple[str, ...]) -> list[str]:
    if not rows:
        return []
    out = ["| kind | platform | test | size (B) | metric | A | B | B/A [95% CI] | p (Holm) | p (BH) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for c in sorted(rows, key=lambda c: (c.metric not in gate, -abs(math.log(c.ratio)))):
        holm = "-" if math.isnan(c.p_holm) else f"{c.p_holm:.2g}"
        out.append(
            f"| {c.kind} | {c.platform} | {c.test} | {c.size_bytes} | {c.metric} | {c.a:.4g} | {c.b:.4g} "
            f"| {c.ratio:.3f} [{c.low:.3f}, {c.high:.3f}] | {holm} | {c.p_bh:.2g} |"
        )
    return out


def table_rows(comparison: Comparison) -> list[dict]:
    return [change.__dict__ for change in comparison.changes]
