"""`python -m vnetbench compare A B`: the files and the exit status of a comparison (vnetbench.change).

A and B: a results folder each, or several separated by commas (replicates of one setting).
Writes, in --out: changes.csv (one row per configuration, metric and kind, with raw and adjusted
p-values), summary.md (vnetbench.change_report) and a PDF per figure (A's first run and B's with
their intervals, the first gating metric). Exit 0: nothing gated
regressed; 1: something did; 2: the input cannot be compared (one line names the culprit).
"""

import os
import sys

from . import change, verdicts
from .change import METRICS, RunError, compare, load_run
from .change_report import regressions, summary_markdown, table_rows


def folders(argument: str, name: str) -> list[str]:
    """A side's results folders: one, or several separated by commas (replicates)."""
    found = [folder for folder in argument.split(",") if folder]
    if not found:
        raise RunError(f"{name}: no results folder given")
    return found


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
        a = [load_run(folder, "A") for folder in folders(args.a, "A")]
        b = [load_run(folder, "B") for folder in folders(args.b, "B")]
        comparison = compare(a, b, args.baseline, args.alpha, args.min_effect, args.relative_min_effect, gate)
    except RunError as error:
        print(f"vnetbench compare: {error}", file=sys.stderr)
        return 2
    import pandas as pd

    from .plots import change_plot, save

    os.makedirs(args.out, exist_ok=True)
    pd.DataFrame(table_rows(comparison)).to_csv(os.path.join(args.out, "changes.csv"), index=False)
    with open(os.path.join(args.out, "summary.md"), "w") as stream:
        stream.write(summary_markdown(a, b, comparison))
    for name, (test, sizes, title) in _figures(a[0], b[0]).items():
        metric = gate[0] if gate else "throughput_mbit_s"
        points = pd.DataFrame(
            change.points(a[0], "A", test, sizes, metric) + change.points(b[0], "B", test, sizes, metric)
        )
        if len(points):
            save(change_plot(points, metric, f"{title}: B against A"),
                 os.path.join(args.out, f"{name}.pdf"))  # fmt: skip
    failed = regressions(comparison)
    counts = {v: sum(c.verdict == v for c in comparison.changes) for v in verdicts.MEANINGS}
    print(
        f"vnetbench compare: {comparison.tests} tests (false discovery rate <= {args.alpha:g}), "
        f"{comparison.gated_tests} gated (family-wise error <= {args.alpha:g}): "
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + f"; {len(failed)} gated regressions ({', '.join(gate)}); "
        f"see {os.path.join(args.out, 'summary.md')}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _figures(a, b) -> dict[str, tuple[str, list[int] | None, str]]:
    """The figures of B's config (else A's): name -> (test, sizes, title); else one per test."""
    for run in (b, a):
        figures = run.provenance.get("config", {}).get("figures")
        if figures:
            from .message_sizes import parse_size

            return {
                name: (f["test"], [parse_size(s) for s in f["sizes"]], f["title"])
                for name, f in figures.items()
            }
    tests = sorted({r["test"] for r in a.records} & {r["test"] for r in b.records})
    return {test.lower(): (test, None, test) for test in tests}
