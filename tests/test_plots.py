"""Figures a reader can use as they are: every title whole, legends off the data, values that
span decades on a log axis, and a platform that was not measured named, not silently absent.
Checked on the layout matplotlib computes for the real plotting functions."""

import pandas as pd
import pytest
from vnetbench.aggregate import figure_table
from vnetbench.comparison import ratios
from vnetbench.plots import figure_plot, ratio_plot, save

LABELS = {
    "native": "Native (namespace to namespace over a veth wire)",
    "openvz": "OpenVZ-style container (routed veth)",
    "xen": "Xen-style guest (bridged)",
    "vm": "QEMU/{accel} guest (virtio-net, bridged)",
}
TITLE = "Fig. 3: TCP request/response, small messages (1 B to 512 B): latency (P50, P99)"
SIZES = (1, 8, 64, 512)


def records(platforms=("native", "openvz", "xen"), reps=5) -> list[dict]:
    """Records of a TCP_RR figure whose Mbit/s span two decades (1 B to 512 B), with latency."""
    out = []
    for index, platform in enumerate(platforms):
        for size in SIZES:
            for rep in range(1, reps + 1):
                rate = 20_000 / (1 + index) * (1 + 0.01 * rep)
                out.append(
                    {"platform": platform, "test": "TCP_RR", "size_bytes": size, "rep": rep,
                     "transactions_per_s": rate, "throughput_mbit_s": rate * 2 * size * 8 / 1e6,
                     "transactions": int(rate), "latency_us": {"p50": 1e6 / rate, "p90": 1.2e6 / rate,
                                                               "p99": 2e6 / rate}}
                )  # fmt: skip
    return out


def failed_vm() -> list[dict]:
    return [{"failed": True, "platform": "vm", "test": "TCP_RR", "size_bytes": size, "rep": rep}
            for size in SIZES for rep in (1, 2)]  # fmt: skip


def layout(fig):
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    return renderer, fig.bbox


def assert_readable(fig):
    renderer, page = layout(fig)
    ax = fig.axes[0]
    title = ax.title.get_window_extent(renderer)
    assert page.x0 <= title.x0 and title.x1 <= page.x1, f"title wider than its figure: {title} in {page}"
    assert fig.legends, "no legend"
    legend = fig.legends[0].get_window_extent(renderer)
    assert page.x0 <= legend.x0 and legend.x1 <= page.x1 and page.y0 <= legend.y0, "legend off the page"
    assert not legend.overlaps(ax.get_window_extent(renderer)), "the legend covers the axes"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["1 B", "8 B", "64 B", "512 B"], ticks


def test_a_latency_figure_with_eight_series_and_a_long_title_is_readable(tmp_path):
    table = figure_table("fig3", "TCP_RR", LABELS, records(), failed=failed_vm())
    fig = figure_plot(table, ["p50_latency_us", "p99_latency_us"], TITLE)
    assert_readable(fig)
    labels = fig.legends[0].get_texts()
    assert [t.get_text() for t in labels] == [
        LABELS["native"], LABELS["openvz"], LABELS["xen"],
        "QEMU/? guest (virtio-net, bridged) (not measured)",
        "P50", "P99",
    ]  # fmt: skip
    assert "not measured (cells failed): QEMU/? guest" in fig.legends[0].get_title().get_text().replace(
        "\n", " "
    )
    save(fig, tmp_path / "latency.pdf")
    assert (tmp_path / "latency.pdf").read_bytes().startswith(b"%PDF")


def test_rates_that_span_decades_are_drawn_on_a_log_axis_and_level_ones_from_zero():
    table = figure_table("fig3", "TCP_RR", LABELS, records())
    fig = figure_plot(table, "throughput_mbit_s", "Fig. 3: TCP request/response, small messages")
    assert fig.axes[0].get_yscale() == "log"  # 1 B to 512 B: Mbit/s over two decades
    assert_readable(fig)
    fig = figure_plot(table, "transactions_per_s", "Fig. 3: TCP request/response, small messages")
    assert fig.axes[0].get_yscale() == "linear" and fig.axes[0].get_ylim()[0] == 0
    assert_readable(fig)


@pytest.mark.parametrize("metric", ["throughput_mbit_s", "p50_latency_us"])
def test_a_ratio_figure_is_titled_as_the_config_titles_it_and_names_what_has_no_pairs(metric):
    table = pd.concat([ratios("fig3", "TCP_RR", metric, LABELS, records(), "native", 0.05, failed_vm())])
    assert set(table[table["platform"] == "vm"]["flags"]) == {"missing"}
    fig = ratio_plot(table, "native", f"{TITLE}: against native")
    assert_readable(fig)
    assert fig.axes[0].get_title().replace("\n", " ") == f"{TITLE}: against native"
    assert "no pairs (cells failed): QEMU/? guest" in fig.legends[0].get_title().get_text().replace("\n", " ")
