"""Tidy tables in, PDFs out: a figure per table, and each platform against the baseline."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .aggregate import UNITS  # noqa: E402
from .sizes import format_size  # noqa: E402

_MARKERS = "osD^vP*X"
_AXIS = {"throughput_mbit_s": "Transfer rate", "transactions_per_s": "Transaction rate"}


def _text(text: str) -> str:
    """Config text shown as written: matplotlib would read $...$ as mathematics."""
    return text.replace("$", r"\$")


def _size_axis(ax, sizes) -> None:
    sizes = sorted(sizes)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [format_size(size) for size in sizes], rotation=45, ha="right")
    ax.minorticks_off()
    ax.set_xlabel("Message size")
    ax.grid(True, alpha=0.3)


def plot_figure(table: pd.DataFrame, metric: str, title: str, output: str, center: str = "median") -> None:
    """Message size (log axis) against `metric`, one series per platform."""
    rows = table[table["metric"] == metric]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for index, (label, series) in enumerate(rows.groupby("label", sort=False)):
        series = series.sort_values("size_bytes")
        if center == "median":
            y = series["median"]
            yerr = [y - series["median_ci_low"], series["median_ci_high"] - y]
        else:
            y, yerr = series["mean"], series["std"].fillna(0)
        ax.errorbar(
            series["size_bytes"], y, yerr=yerr, label=_text(label), marker=_MARKERS[index % len(_MARKERS)],
            capsize=3, linewidth=1.2, markersize=4,
        )  # fmt: skip
    _size_axis(ax, rows["size_bytes"].unique())
    ax.set_ylabel(f"{_AXIS[metric]} ({UNITS[metric]})")
    ax.set_ylim(bottom=0)
    ax.set_title(_text(title))
    ax.legend(fontsize="small")
    n = int(rows["n"].min()) if len(rows) else 0
    if center == "median":
        coverage = float(rows["median_ci_level"].min()) if len(rows) else 0.0
        note = (
            f"median with its distribution-free interval (order statistics, coverage {coverage:.1%}); n = {n}"
        )
    else:
        note = f"mean ± sample standard deviation; n = {n}"
    fig.text(0.99, 0.01, note, ha="right", va="bottom", fontsize=6, alpha=0.6)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def plot_ratios(table: pd.DataFrame, baseline: str, title: str, output: str) -> None:
    """Each platform's median over the baseline's, per size, with bootstrap intervals."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for index, (label, series) in enumerate(table.groupby("label", sort=False)):
        series = series.sort_values("size_bytes")
        yerr = [series["ratio"] - series["ratio_ci_low"], series["ratio_ci_high"] - series["ratio"]]
        ax.errorbar(
            series["size_bytes"], series["ratio"], yerr=yerr, label=_text(label),
            marker=_MARKERS[(index + 1) % len(_MARKERS)], capsize=3, linewidth=1.2, markersize=4,
        )  # fmt: skip
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    if len(table):
        _size_axis(ax, table["size_bytes"].unique())
    ax.set_ylabel(f"Ratio of medians to {_text(baseline)}")
    ax.set_title(_text(title))
    if len(table):
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no other platform to compare", ha="center", transform=ax.transAxes)
    fig.text(
        0.99, 0.01, "95% bootstrap intervals (fixed seed)", ha="right", va="bottom", fontsize=6, alpha=0.6
    )
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)
