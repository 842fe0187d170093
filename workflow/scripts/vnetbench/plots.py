"""Tidy tables in, PDFs out: a figure per table, and each platform against the baseline.

A plot shows one metric, or a few of one kind (latency P50 and P99: one line style each).
Read by people: the title is wrapped to the figure's width, the legend sits below the axes
(never over the data), the size axis names every size, and a value axis is logarithmic
where the values span a decade or more. A platform that was not measured keeps its legend
entry, marked so.
"""

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from .message_sizes import format_size  # noqa: E402
from .metrics import RATES, UNITS  # noqa: E402

_MARKERS = "osD^vP*X"
_STYLES = ("-", "--", ":", "-.")
_AXIS = {
    "throughput_mbit_s": "Transfer rate",
    "transactions_per_s": "Transaction rate",
    "p50_latency_us": "Latency",
    "machine_cpu_us_per_transaction": "CPU per transaction",
    "client_cpu_us_per_transaction": "CPU per transaction",
    "machine_cpu_s_per_gbit": "CPU per Gbit moved",
    "latency_inflation": "Probe latency under load over idle",
}
_SHORT = {
    "p50_latency_us": "P50",
    "p90_latency_us": "P90",
    "p99_latency_us": "P99",
    "machine_cpu_us_per_transaction": "machine",
    "client_cpu_us_per_transaction": "client",
    "server_cpu_us_per_transaction": "server",
    "machine_cpu_s_per_gbit": "machine",
}
_HOLLOW = "hollow marker: precision target not reached"


def _text(text: str) -> str:
    """Config text shown as written: matplotlib would read $...$ as mathematics."""
    return text.replace("$", r"\$")


def _title(ax, title: str) -> None:
    ax.set_title(textwrap.fill(_text(title), _TITLE_WIDTH), fontsize="medium")


_TITLE_WIDTH = 62  # characters per title line at the default size on a 6.4-inch figure
_NOT_MEASURED = "not measured"


def _size_axis(ax, sizes) -> None:
    sizes = sorted(sizes)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [format_size(size) for size in sizes], rotation=45, ha="right")
    ax.minorticks_off()
    ax.set_xlabel("Message size")
    ax.grid(True, alpha=0.3)


def _value_axis(ax, values: pd.Series, rate: bool) -> None:
    """Logarithmic where the values span a decade or more (small messages' Mbit/s, latency,
    CPU), else linear from 0 (a rate's level is then read against zero)."""
    values = values[values > 0].dropna()
    spans_decades = len(values) and values.max() / values.min() >= 10
    if spans_decades or not rate:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)


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
    for label, style in _platform_styles(table).items():
        for line, metric in zip(_STYLES, metrics, strict=False):
            rows = table[(table["label"] == label) & (table["metric"] == metric)].sort_values("size_bytes")
            if len(rows):
                yield label, {**style, "linestyle": line}, rows


def _platform_styles(table: pd.DataFrame) -> dict[str, dict]:
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {
        label: {"marker": _MARKERS[index % len(_MARKERS)], "color": colours[index % len(colours)]}
        for index, label in enumerate(dict.fromkeys(table["label"]))
    }


def _draw(ax, style: dict, x, y, yerr) -> object | None:
    """One series (nothing for a series without a single value: its legend entry says so)."""
    if y.isna().all():
        return None
    return ax.errorbar(x, y, yerr=yerr, capsize=3, linewidth=1.2, markersize=4, **style)


def _legend_and_note(fig, table: pd.DataFrame, metrics: list[str], note: str) -> None:
    """Below the axes: the note, then one entry per platform (its colour and marker; "not
    measured" when it has no value), then, for several metrics, one per line style."""
    handles, names = [], []
    value = "ratio" if "ratio" in table else "median"
    for label, style in _platform_styles(table).items():
        rows = table[table["label"] == label]
        handles.append(Line2D([], [], linestyle="-", **style))
        names.append(_text(label) + ("" if rows[value].notna().any() else f" ({_NOT_MEASURED})"))
    if len(metrics) > 1:
        for line, metric in zip(_STYLES, metrics, strict=False):
            handles.append(Line2D([], [], color="grey", linestyle=line))
            names.append(_SHORT[metric])
    if not handles:
        fig.supxlabel(note, fontsize=6, alpha=0.7)
        return
    columns = 1 if max(map(len, names)) > 36 else 2
    legend = fig.legend(handles, names, loc="outside lower center", ncol=columns, fontsize="small",
                        frameon=False, title=note, title_fontsize=6)  # fmt: skip
    legend.get_title().set_alpha(0.7)


def _figure(table: pd.DataFrame, metrics: list[str]):
    """A figure tall enough for its plot and, below it, its legend."""
    entries = table["label"].nunique() + (len(metrics) if len(metrics) > 1 else 0)
    return plt.subplots(figsize=(6.4, 4.2 + 0.17 * entries), layout="constrained")


def _missing(table: pd.DataFrame) -> str:
    """The note's words for what the table lacks."""
    if "missing" not in table or not table["missing"].fillna(0).any():
        return ""
    rows = table[table["missing"].fillna(0) > 0].drop_duplicates(["label", "size_bytes"])
    parts = [
        f"{_text(label)} ({int(group['missing'].sum())})"
        for label, group in rows.groupby("label", sort=False)
    ]
    return "; repetitions not measured (cells failed): " + ", ".join(parts)


def _repetitions(n: pd.Series) -> str:
    """n of a figure's points: one number, or the range a precision run spread them over."""
    n = n[n > 0]
    if not len(n):
        return "0"
    low, high = int(n.min()), int(n.max())
    return f"{low}" if low == high else f"{low} to {high}"


def figure_plot(table: pd.DataFrame, metrics: str | list[str], title: str, center: str = "median"):
    """Message size (log axis) against the metric(s), one series per platform (and metric)."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    rows = table[table["metric"].isin(metrics)]
    fig, ax = _figure(rows, metrics)
    hollow, shown = False, []
    for _, style, series in _series(rows, metrics):
        if center == "median":
            y = series["median"]
            yerr = [y - series["median_ci_low"], series["median_ci_high"] - y]
        else:
            y, yerr = series["mean"], series["std"].fillna(0)
        container = _draw(ax, style, series["size_bytes"], y, yerr)
        if container is not None:
            hollow |= _mark_imprecise(ax, container, series, y)
            shown.append(y)
    _size_axis(ax, rows["size_bytes"].unique())
    ax.set_ylabel(f"{_AXIS[metrics[0]]} ({UNITS[metrics[0]]})")
    _value_axis(ax, pd.concat(shown) if shown else pd.Series(dtype=float), metrics[0] in RATES)
    _title(ax, title)
    n = _repetitions(rows["n"])
    if center == "median":
        measured = rows[rows["n"] > 0]
        coverage = float(measured["median_ci_level"].min()) if len(measured) else 0.0
        note = f"median with its distribution-free interval (order statistics, coverage >= {coverage:.1%})"
        note += f"; n = {n}"
    else:
        note = f"mean ± sample standard deviation; n = {n}"
    if hollow:
        note += f"; {_HOLLOW}"
    _legend_and_note(fig, rows, metrics, textwrap.fill(note + _missing(rows), 150))
    return fig


def ratio_plot(table: pd.DataFrame, baseline: str, title: str, metrics=None):
    """Each platform over the baseline, per size (paired estimate and interval); `metrics`:
    those of the table to show (default: all it has)."""
    metrics = list(dict.fromkeys(table["metric"])) if metrics is None else list(metrics)
    table = table[table["metric"].isin(metrics)]
    fig, ax = _figure(table, metrics)
    hollow = False
    for _, style, series in _series(table, metrics):
        # An undefined interval (a single pair) draws no bar.
        yerr = [
            (series["ratio"] - series["ratio_ci_low"]).fillna(0),
            (series["ratio_ci_high"] - series["ratio"]).fillna(0),
        ]
        container = _draw(ax, style, series["size_bytes"], series["ratio"], yerr)
        if container is not None:
            hollow |= _mark_imprecise(ax, container, series, series["ratio"])
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ratios = table["ratio"].dropna()
    if len(ratios) and ratios.min() > 0 and ratios.max() / ratios.min() >= 10:
        ax.set_yscale("log")  # an emulated guest at a few percent of native: the others stay readable
    if len(table):
        _size_axis(ax, table["size_bytes"].unique())
    else:
        ax.text(0.5, 0.5, "no other platform to compare", ha="center", transform=ax.transAxes)
    ax.set_ylabel(f"Ratio to {_text(baseline)} (paired)")
    _title(ax, title)
    note = f"geometric mean of within-block ratios, 95% t interval; pairs = {_repetitions(table['n'])}"
    if hollow:
        note += f"; {_HOLLOW}"
    if (table["n"] == 0).any():
        gone = ", ".join(dict.fromkeys(_text(label) for label in table[table["n"] == 0]["label"]))
        note += f"; no pairs (cells failed): {gone}"
    _legend_and_note(fig, table, metrics, textwrap.fill(note, 150))
    return fig


def save(fig, output: str) -> None:
    fig.savefig(output)
    plt.close(fig)


def plot_figure(
    table: pd.DataFrame, metrics: str | list[str], title: str, output: str, center: str = "median"
) -> None:
    save(figure_plot(table, metrics, title, center), output)


def plot_ratios(table: pd.DataFrame, baseline: str, title: str, output: str, metrics=None) -> None:
    save(ratio_plot(table, baseline, title, metrics), output)


def change_plot(table: pd.DataFrame, metric: str, title: str):
    """Two runs of one figure: per platform, A (dashed, hollow) and B (solid), each the geometric
    mean of its values with their 95% t interval (columns platform, run, size_bytes, center,
    low, high)."""
    fig, ax = plt.subplots(
        figsize=(6.4, 4.2 + 0.17 * (table["platform"].nunique() + 2)), layout="constrained"
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles, names = [], []
    for index, platform in enumerate(dict.fromkeys(table["platform"])):
        colour, marker = colours[index % len(colours)], _MARKERS[index % len(_MARKERS)]
        for run, line, face in (("A", "--", "white"), ("B", "-", colour)):
            rows = table[(table["platform"] == platform) & (table["run"] == run)].sort_values("size_bytes")
            if len(rows):
                yerr = [rows["center"] - rows["low"], rows["high"] - rows["center"]]
                style = {"color": colour, "marker": marker, "linestyle": line, "markerfacecolor": face}
                ax.errorbar(rows["size_bytes"], rows["center"], yerr=yerr, capsize=3, linewidth=1.2, **style)
        handles.append(Line2D([], [], color=colour, marker=marker, linestyle="-"))
        names.append(_text(platform))
    handles += [Line2D([], [], color="grey", linestyle="--", marker="o", markerfacecolor="white"),
                Line2D([], [], color="grey", linestyle="-", marker="o")]  # fmt: skip
    names += ["A (before)", "B (after)"]
    _size_axis(ax, table["size_bytes"].unique())
    ax.set_ylabel(f"{_AXIS.get(metric, metric)} ({UNITS[metric]})")
    _value_axis(ax, table["center"], metric in RATES)
    _title(ax, title)
    note = "geometric mean of each run's values with the 95% t interval of their logarithms"
    fig.legend(handles, names, loc="outside lower center", ncol=2, fontsize="small", frameon=False,
               title=note, title_fontsize=6)  # fmt: skip
    return fig
