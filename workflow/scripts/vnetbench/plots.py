"""Tidy tables in, PDFs out: a figure per table, and each platform against the baseline.

A plot shows one metric, or a few of one kind (latency P50 and P99: one line style each).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .metrics import RATES, UNITS  # noqa: E402
from .sizes import format_size  # noqa: E402

_MARKERS = "osD^vP*X"
_STYLES = ("-", "--", ":", "-.")
_AXIS = {
    "throughput_mbit_s": "Transfer rate",
    "transactions_per_s": "Transaction rate",
    "p50_latency_us": "Latency",
    "machine_cpu_us_per_transaction": "CPU per transaction",
    "client_cpu_us_per_transaction": "CPU per transaction",
}
_SHORT = {
    "p50_latency_us": "P50",
    "p90_latency_us": "P90",
    "p99_latency_us": "P99",
    "machine_cpu_us_per_transaction": "machine",
    "client_cpu_us_per_transaction": "client",
    "server_cpu_us_per_transaction": "server",
}
_HOLLOW = "hollow marker: precision target not reached"


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


def _mark_imprecise(ax, container, series, y) -> bool:
    """Hollow markers over the points whose precision target was not reached."""
    imprecise = series["flags"].fillna("").str.contains("imprecise").to_numpy()
    if not imprecise.any():
        return False
    line = container.lines[0]
    ax.plot(
        series["size_bytes"].to_numpy()[imprecise], y.to_numpy()[imprecise], linestyle="none",
        marker=line.get_marker(), markersize=6, markerfacecolor="white", markeredgecolor=line.get_color(),
    )  # fmt: skip
    return True


def _series(table: pd.DataFrame, metrics: list[str]):
    """(label, style, rows) per platform and metric, platforms in table order: one colour and
    marker per platform, one line style per metric."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = list(dict.fromkeys(table["label"]))
    for index, label in enumerate(labels):
        for line, metric in zip(_STYLES, metrics, strict=False):
            rows = table[(table["label"] == label) & (table["metric"] == metric)].sort_values("size_bytes")
            if len(rows):
                name = _text(label) + (f" {_SHORT[metric]}" if len(metrics) > 1 else "")
                style = {"linestyle": line, "marker": _MARKERS[index % len(_MARKERS)],
                         "color": colours[index % len(colours)]}  # fmt: skip
                yield name, style, rows


def _legend(ax, metrics: list[str]) -> None:
    """Several metrics double the entries: smaller, in two columns."""
    one = len(metrics) == 1
    ax.legend(fontsize="small" if one else "x-small", ncol=1 if one else 2)


def _repetitions(n: pd.Series) -> str:
    """n of a figure's points: one number, or the range a precision run spread them over."""
    if not len(n):
        return "0"
    low, high = int(n.min()), int(n.max())
    return f"{low}" if low == high else f"{low} to {high}"


def plot_figure(
    table: pd.DataFrame, metrics: str | list[str], title: str, output: str, center: str = "median"
) -> None:
    """Message size (log axis) against the metric(s), one series per platform (and metric)."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    rows = table[table["metric"].isin(metrics)]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    hollow = False
    for label, style, series in _series(rows, metrics):
        if center == "median":
            y = series["median"]
            yerr = [y - series["median_ci_low"], series["median_ci_high"] - y]
        else:
            y, yerr = series["mean"], series["std"].fillna(0)
        container = ax.errorbar(
            series["size_bytes"], y, yerr=yerr, label=label, capsize=3, linewidth=1.2, markersize=4, **style
        )
        hollow |= _mark_imprecise(ax, container, series, y)
    _size_axis(ax, rows["size_bytes"].unique())
    ax.set_ylabel(f"{_AXIS[metrics[0]]} ({UNITS[metrics[0]]})")
    if metrics[0] in RATES:
        ax.set_ylim(bottom=0)
    else:
        ax.set_yscale("log")  # latency and CPU span orders of magnitude across platforms
    ax.set_title(_text(title))
    _legend(ax, metrics)
    n = _repetitions(rows["n"])
    if center == "median":
        coverage = float(rows["median_ci_level"].min()) if len(rows) else 0.0
        note = f"median with its distribution-free interval (order statistics, coverage >= {coverage:.1%})"
        note += f"; n = {n}"
    else:
        note = f"mean ± sample standard deviation; n = {n}"
    if hollow:
        note += f"; {_HOLLOW}"
    fig.text(0.99, 0.01, note, ha="right", va="bottom", fontsize=6, alpha=0.6)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def plot_ratios(table: pd.DataFrame, baseline: str, title: str, output: str, metrics=None) -> None:
    """Each platform over the baseline, per size (paired estimate and interval); `metrics`:
    those of the table to show (default: all it has)."""
    metrics = list(dict.fromkeys(table["metric"])) if metrics is None else list(metrics)
    table = table[table["metric"].isin(metrics)]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    hollow = False
    for label, style, series in _series(table, metrics):
        # An undefined interval (a single pair) draws no bar.
        yerr = [
            (series["ratio"] - series["ratio_ci_low"]).fillna(0),
            (series["ratio_ci_high"] - series["ratio"]).fillna(0),
        ]
        container = ax.errorbar(
            series["size_bytes"], series["ratio"], yerr=yerr, label=label, capsize=3, linewidth=1.2,
            markersize=4, **style,
        )  # fmt: skip
        hollow |= _mark_imprecise(ax, container, series, series["ratio"])
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    if len(table):
        _size_axis(ax, table["size_bytes"].unique())
    ax.set_ylabel(f"Ratio to {_text(baseline)} (paired)")
    ax.set_title(_text(title))
    if len(table):
        _legend(ax, metrics)
    else:
        ax.text(0.5, 0.5, "no other platform to compare", ha="center", transform=ax.transAxes)
    note = f"geometric mean of within-block ratios, 95% t interval; pairs = {_repetitions(table['n'])}"
    if hollow:
        note += f"; {_HOLLOW}"
    fig.text(0.99, 0.01, note, ha="right", va="bottom", fontsize=6, alpha=0.6)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)
