"""A tidy figure table in, a PDF out."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .aggregate import UNITS  # noqa: E402
from .sizes import format_size  # noqa: E402

_MARKERS = "osD^vP*X"
_AXIS = {"throughput_mbit_s": "Transfer rate", "transactions_per_s": "Transaction rate"}


def plot_figure(table: pd.DataFrame, metric: str, title: str, output: str) -> None:
    """Message size (log axis) against `metric`: one series per platform, mean +/- std."""
    rows = table[table["metric"] == metric]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for index, (label, series) in enumerate(rows.groupby("label", sort=False)):
        series = series.sort_values("size_bytes")
        ax.errorbar(
            series["size_bytes"],
            series["mean"],
            yerr=series["std"].fillna(0),
            label=label,
            marker=_MARKERS[index % len(_MARKERS)],
            capsize=3,
            linewidth=1.2,
            markersize=4,
        )
    sizes = sorted(rows["size_bytes"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [format_size(size) for size in sizes], rotation=45, ha="right")
    ax.minorticks_off()
    ax.set_xlabel("Message size")
    ax.set_ylabel(f"{_AXIS[metric]} ({UNITS[metric]})")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.text(0.99, 0.01, "mean ± sample std over repetitions", ha="right", va="bottom", fontsize=6, alpha=0.6)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)
