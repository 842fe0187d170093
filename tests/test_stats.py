"""Statistics on hand-computed cases; flags on constructed data."""

import math

import pandas as pd
import pytest
from vnetbench.aggregate import Thresholds, figure_table
from vnetbench.comparison import judge_claims, ratios, stand_ins
from vnetbench.stats import median_interval, outliers, summarize, t_quantile


def test_summary_matches_hand_computation():
    # 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sum of squares 32, sample variance 32/7.
    s = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert s.n == 8
    assert s.mean == 5
    assert s.std == pytest.approx(math.sqrt(32 / 7))
    assert s.cv == pytest.approx(math.sqrt(32 / 7) / 5)
    assert s.median == 4.5
    assert (s.min, s.max) == (2, 9)
    # t(0.975, 7) = 2.364624; half width 2.364624 * 2.138090 / sqrt(8) = 1.787484
    assert s.mean_ci_low == pytest.approx(5 - 1.787484, abs=1e-5)
    assert s.mean_ci_high == pytest.approx(5 + 1.787484, abs=1e-5)
    # n = 8: P(B <= 1) = 9/256 > 0.025, so the 95% interval is [x(1), x(8)], coverage 1 - 2/256.
    assert (s.median_ci_low, s.median_ci_high, s.median_ci_level) == (2, 9, 1 - 2 / 256)


@pytest.mark.parametrize(
    "df, quantile",
    [(1, 12.706205), (2, 4.302653), (4, 2.776445), (9, 2.262157), (29, 2.045230), (1000, 1.962339)],
)
def test_t_quantiles_match_tables(df, quantile):
    assert t_quantile(0.975, df) == pytest.approx(quantile, abs=1e-6)


def test_median_interval_of_ten_is_second_to_ninth():
    low, high, level = median_interval(sorted([10, 3, 7, 1, 9, 2, 8, 4, 6, 5]))
    assert (low, high) == (2, 9)
    assert level == pytest.approx(1 - 2 * 11 / 1024)  # P(B <= 1) = 11/1024


def test_median_interval_below_six_is_min_max_with_its_coverage():
    assert median_interval([1, 2, 3, 4, 5]) == (1, 5, 1 - 2 / 32)
    assert median_interval([4.0]) == (4.0, 4.0, 0.0)


def test_odd_count_median_and_single_value():
    assert summarize([3, 1, 2]).median == 2
    one = summarize([7.5])
    assert one.n == 1 and one.mean == 7.5 and math.isnan(one.std) and math.isnan(one.mean_ci_low)


def test_the_mean_of_what_cannot_be_negative_has_no_negative_bound():
    """Six rates of a very noisy guest (UDP_RR 512 B on the uml platform, transactions/s): the
    symmetric t interval would reach -707."""
    rates = [9807.0, 1158.0, 2204.0, 11201.0, 1011.0, 705.0]
    spread = summarize(rates)
    assert spread.mean_ci_low == 0.0 and spread.mean_ci_high > spread.mean
    assert summarize([-1.0, 1.0, 3.0]).mean_ci_low < 0  # a quantity that can be negative keeps it


def test_empty_is_an_error():
    with pytest.raises(ValueError):
        summarize([])


def test_outliers():
    assert outliers([10, 10.1, 9.9, 10.05, 9.95, 30]) == [5]
    assert outliers([10, 10.1, 9.9, 10.05, 9.95]) == []
    assert outliers([5, 5, 5, 5, 6]) == [4]  # MAD = 0: anything more than 1% off the median


def record(platform, size, rep, rate, test="TCP_RR", **extra):
    return {
        "platform": platform, "test": test, "size_bytes": size, "rep": rep,
        "transactions_per_s": rate, "throughput_mbit_s": rate * 2 * size * 8 / 1e6,
        "transactions": 10_000, "datagrams_sent": None, "datagrams_received": None, **extra,
    }  # fmt: skip


LABELS = {"native": "Native", "openvz": "OpenVZ-style", "xen": "Xen-style"}


def flags_of(records, test="TCP_RR", **thresholds):
    table = figure_table("f", test, LABELS, records, Thresholds(**thresholds))
    return (
        table[table["metric"] == "throughput_mbit_s"].set_index(["platform", "size_bytes"])["flags"].to_dict()
    )


def test_flags_fire_on_constructed_data():
    steady = [record("native", 1, rep, 1000 + rep) for rep in range(1, 11)]
    noisy = [record("openvz", 1, rep, 1000 * (1 + 0.2 * (rep % 2))) for rep in range(1, 11)]
    quantised = [record("xen", 1, rep, 1000, transactions=12) for rep in range(1, 11)]
    spiky = [record("native", 2, rep, 3000 if rep == 7 else 1000 + rep) for rep in range(1, 11)]
    flags = flags_of(steady + noisy + quantised + spiky)
    assert flags[("native", 1)] == ""
    assert flags[("openvz", 1)] == "high_cv"
    assert flags[("xen", 1)] == "few_transactions"
    assert flags[("native", 2)] == "high_cv;outlier:7"
    assert flags_of(steady, cv=1e-6)[("native", 1)] == "high_cv"


def test_udp_loss_and_low_coverage_flags():
    lossy = [
        record("native", 8192, rep, 100.0, test="UDP_STREAM", transactions=None,
               datagrams_sent=1000, datagrams_received=1000 - (rep == 2))
        for rep in range(1, 6)
    ]  # fmt: skip
    assert flags_of(lossy, test="UDP_STREAM")[("native", 8192)] == "udp_loss;low_coverage"


def test_a_repetition_with_a_starved_flow_is_flagged():
    flows = [
        record("native", 65536, rep, 1000.0 + rep, test="TCP_STREAMx8", transactions=None,
               load={"flows": 8, **({"starved": ["flow1", "flow4"]} if rep in (2, 5) else {})})
        for rep in range(1, 11)
    ]  # fmt: skip
    assert flags_of(flows, test="TCP_STREAMx8")[("native", 65536)] == "starved:2,5"


def test_a_bulk_table_keeps_the_senders_rate_and_udps_loss_beside_the_receivers():
    sent = [
        record("native", 1024, rep, 100.0, test="UDP_STREAM", transactions=None, send_throughput_mbit_s=200.0,
               datagrams_sent=1000, datagrams_received=500 + 100 * rep)
        for rep in range(1, 4)
    ]  # fmt: skip
    table = figure_table("f", "UDP_STREAM", LABELS, sent).set_index("metric")
    assert list(table.index) == ["throughput_mbit_s", "send_throughput_mbit_s", "udp_loss_percent"]
    assert table.loc["send_throughput_mbit_s", "mean"] == 200.0
    assert table.loc["udp_loss_percent", "mean"] == pytest.approx(30.0)  # 40%, 30%, 20% lost
    assert table.loc["udp_loss_percent", "unit"] == "%"


def test_ratios_table_and_claims():
    records = []
    for rep in range(1, 11):
        records += [record("native", 64, rep, 1000 + rep), record("openvz", 64, rep, 990 + rep)]
        records += [record("xen", 64, rep, 700 + rep)]
    table = ratios("fig3_tcp_small", "TCP_RR", "throughput_mbit_s", LABELS, records, "native", 2007)
    assert list(table["platform"]) == ["openvz", "xen"]
    assert table.loc[table.platform == "xen", "ratio_ci_high"].item() < 1
    again = ratios("fig3_tcp_small", "TCP_RR", "throughput_mbit_s", LABELS, records, "native", 2007)
    assert table.equals(again)
    versus_xen = ratios("fig3_tcp_small", "TCP_RR", "throughput_mbit_s", LABELS, records, "xen", 2007)
    claims = judge_claims(pd.concat([table, versus_xen]))
    verdicts = dict(zip(claims["claim"], claims["verdict"], strict=True))
    assert verdicts["OpenVZ beats Xen, mainly for small and medium messages"] == "supported"
    assert verdicts["OpenVZ comes close to native at some sizes"] == "supported"
    # openvz is 1% below native: a difference, but not one that matters (the margin is 5%).
    assert verdicts["Native beats the virtualized platforms in most cases"] == "inconclusive"
    # On the embedded testbed, `xen` is a namespace: the claim about a hypervisor is not judged.
    embedded = judge_claims(pd.concat([table, versus_xen]), embedded={"xen": "xen", "openvz": "openvz"})
    claim = embedded.set_index("claim").loc["OpenVZ beats Xen, mainly for small and medium messages"]
    assert claim["verdict"] == "not represented" and "no guest kernel" in claim["evidence"]


def test_claims_are_judged_on_the_intervals_of_the_ratio_table():
    """One estimate per comparison: a verdict counts exactly the intervals the _vs_ table shows.
    Here the table's openvz row is edited to exclude 1 from above: the verdict follows it."""
    records = []
    for rep in range(1, 11):
        records += [record("native", 64, rep, 1000 + 3 * rep), record("openvz", 64, rep, 1000 - rep)]
        records += [record("xen", 64, rep, 700 + rep)]
    table = ratios("fig3_tcp_small", "TCP_RR", "throughput_mbit_s", LABELS, records, "native", 2007)
    first = judge_claims(table)
    openvz = table["platform"] == "openvz"
    below = int((table["ratio_ci_high"] < 1 / 1.05).sum())  # xen (0.7) is; openvz (0.99) is not
    assert below == 1 and f"below 1 in {below} of 2 comparisons" in first["evidence"][0]
    table.loc[openvz, ["ratio", "ratio_ci_low", "ratio_ci_high"]] = [1.03, 1.01, 1.05]
    assert "above 1 in 0" in judge_claims(table)["evidence"][0]  # above 1, but within the 5% margin
    table.loc[openvz, ["ratio", "ratio_ci_low", "ratio_ci_high"]] = [1.10, 1.08, 1.12]
    again = judge_claims(table)
    assert "above 1 in 1" in again["evidence"][0]


def test_a_percentile_netperf_could_not_compute_is_a_missing_value_with_a_flag_never_0():
    def latency(p50):
        return {"latency_us": {"min": 5.0, "p50": p50, "p90": None, "p99": None, "max": 9.0, "mean": 6.0}}

    rows = [record("native", 1, 1, 100.0, **latency(6.0)), record("native", 1, 2, 101.0, **latency(None))]
    rows += [record("native", 50, rep, 1.0, transactions=1, **latency(None)) for rep in (1, 2)]
    table = figure_table("f", "TCP_RR", LABELS, rows).set_index(["size_bytes", "metric"])
    assert table.loc[(1, "p50_latency_us"), "n"] == 1 and table.loc[(1, "p50_latency_us"), "mean"] == 6.0
    assert "no_value:2" in table.loc[(1, "p50_latency_us"), "flags"]
    at_50 = table.loc[(50, "p50_latency_us")]
    assert at_50["n"] == 0 and math.isnan(at_50["mean"]) and at_50["flags"].startswith("no_value:1,2")
    assert "p90_latency_us" not in table.index.get_level_values("metric")  # no record has it
    assert not (table["mean"] == 0).any()


def test_the_paper_xen_is_stood_for_by_a_guest_kernel_where_the_lab_has_one():
    kinds = {"native": "native", "openvz": "openvz", "xen": "xen", "uml": "uml"}
    assert stand_ins(kinds)["xen"] == "uml"
    assert stand_ins({"native": "native", "xen": "xen"})["xen"] == "xen"
    assert stand_ins({"native": None, "xen": None})["xen"] == "xen"  # external hosts: by name
