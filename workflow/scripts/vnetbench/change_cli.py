"""`python -m vnetbench compare A B`: the files and the exit status of a comparison (vnetbench.change).

Writes, in --out: changes.csv (one row per configuration, metric and kind), summary.md
(provenance side by side, what differs, regressions, improvements, the rest counted) and a PDF
per figure (A and B with their intervals, the first gating metric). Exit 0: nothing gated
regressed; 1: something did; 2: the input cannot be compared (one line names the culprit).
"""

import os
import sys

from . import change
from .change import METRICS, RunError, compare, load_run, regressions, summary_markdown, table_rows


def run(args) -> int:
    gate = tuple(metric.strip() for metric in args.gate.split(",") if metric.strip())
    unknown = [metric for metric in gate if metric not in METRICS]
    if unknown:
        print(
            f"vnetbench compare: --gate {unknown[0]!r} is not a metric ({', '.join(METRICS)})",
            file=sys.stderr,
        )
        return 2
    try:
        a, b = load_run(args.a, "A"), load_run(args.b, "B")
        changes = compare(a, b, args.baseline, args.alpha, args.min_effect, args.relative_min_effect)
    except RunError as error:
        print(f"vnetbench compare: {error}", file=sys.stderr)
        return 2
    import pandas as pd

    from .plots import change_plot, save

    os.makedirs(args.out, exist_ok=True)
    pd.DataFrame(table_rows(changes)).to_csv(os.path.join(args.out, "changes.csv"), index=False)
    summary = summary_markdown(
        a, b, changes, gate, args.alpha, args.min_effect, args.relative_min_effect, args.baseline
    )
    with open(os.path.join(args.out, "summary.md"), "w") as stream:
        stream.write(summary)
    for name, (test, sizes, title) in _figures(a, b).items():
        metric = gate[0] if gate else "throughput_mbit_s"
        points = pd.DataFrame(
            change.points(a, "A", test, sizes, metric) + change.points(b, "B", test, sizes, metric)
        )
        if len(points):
            save(change_plot(points, metric, f"{title}: B against A"),
                 os.path.join(args.out, f"{name}.pdf"))  # fmt: skip
    failed = regressions(changes, gate)
    counts = {v: sum(c.verdict == v for c in changes) for v in ("slower", "faster", "same", "undecided")}
    print(
        f"vnetbench compare: {len(changes)} comparisons: {counts['slower']} slower, "
        f"{counts['faster']} faster, {counts['same']} the same, {counts['undecided']} undecided; "
        f"{len(failed)} gating regressions ({', '.join(gate)}); see {os.path.join(args.out, 'summary.md')}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _figures(a, b) -> dict[str, tuple[str, list[int] | None, str]]:
    """The figures of B's config (else A's): name -> (test, sizes, title); else one per test."""
    for run in (b, a):
        figures = run.provenance.get("config", {}).get("figures")
        if figures:
            from .sizes import parse_size

            return {
                name: (f["test"], [parse_size(s) for s in f["sizes"]], f["title"])
                for name, f in figures.items()
            }
    tests = sorted({r["test"] for r in a.records} & {r["test"] for r in b.records})
    return {test.lower(): (test, None, test) for test in tests}
