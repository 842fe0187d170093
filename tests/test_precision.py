"""Repetitions until precise, and platforms compared back to back: pure functions, hand-checked."""

import math
from dataclasses import replace

import pytest
from vnetbench import order
from vnetbench.config import load_experiment
from vnetbench.precision import (
    Targets,
    block_pairs,
    hopeless,
    needed,
    paired_ratio,
    per_platform_lines,
    plan,
    progress_line,
    reached_line,
    value_precision,
)
from vnetbench.records import utc_iso
from vnetbench.stats import t_quantile

from .conftest import tiny_config


def test_value_precision_is_the_relative_half_width_of_the_t_interval():
    values = [98.0, 102.0, 100.0, 99.0, 101.0]
    half = t_quantile(0.975, 4) * math.sqrt(2.5) / math.sqrt(5)  # s = sqrt(2.5)
    assert value_precision(values) == pytest.approx(half / 100)
    assert value_precision([100.0]) == math.inf  # no interval from one value


def test_paired_ratio_cancels_drift_that_an_unpaired_view_counts_as_noise():
    # The machine drifts by +-20% from block to block; the platform is 0.8 of the baseline
    # within every block, give or take 1%.
    drift = [1.0, 1.2, 0.8, 1.1, 0.9, 1.15]
    noise = [1.01, 0.99, 1.0, 1.005, 0.995, 1.0]
    pairs = [(800 * d * e, 1000 * d) for d, e in zip(drift, noise, strict=True)]
    estimate = paired_ratio(pairs)
    assert estimate.ratio == pytest.approx(0.8, rel=0.005) and estimate.n == 6
    assert estimate.low < 0.8 < estimate.high and estimate.precision < 0.01
    # Unpaired, each sample alone varies by about 15%.
    assert value_precision([a for a, _ in pairs]) > 0.1


def test_needed_repetitions_follow_one_over_square_root_n():
    assert needed(5, 0.10, 0.05) == 20
    assert needed(5, 0.04, 0.05) == 5
    assert needed(4, math.inf, 0.05) == 8


def records(values: dict[str, list[float]], test="TCP_RR", size=1) -> list[dict]:
    return [
        {"platform": p, "test": test, "size_bytes": size, "rep": rep, "throughput_mbit_s": v}
        for p, vs in values.items()
        for rep, v in enumerate(vs, start=1)
    ]


TARGETS = Targets(
    value=0.10, ratio=0.05, min_repetitions=4, max_repetitions={"native": 12, "xen": 12, "vm": 4}
)


def test_a_precise_configuration_adds_nothing():
    quiet = records({"native": [100, 101, 99, 100], "xen": [80, 80.5, 79.5, 80]})
    result = plan(quiet, {"TCP_RR": "throughput_mbit_s"}, "native", TARGETS)
    assert result["add"] == []
    assert all(row["reached"] for row in result["configurations"])


def test_an_imprecise_ratio_adds_blocks_with_the_baseline_and_at_most_doubles():
    # xen/native varies by about 10% within blocks: about 4 x (hw / 5%)^2 repetitions wanted.
    noisy = records({"native": [100, 100, 100, 100], "xen": [80, 90, 72, 85], "vm": [1, 1.5, 0.6, 1.2]})
    result = plan(noisy, {"TCP_RR": "throughput_mbit_s"}, "native", TARGETS)
    assert [block["rep"] for block in result["add"]] == [5, 6, 7, 8]  # doubled, not more
    assert all(block["platforms"] == ["xen", "native"] for block in result["add"])
    vm = next(row for row in result["configurations"] if row["platform"] == "vm")
    assert vm["at_max"] and not vm["reached"]  # capped at its own maximum: flagged, not measured more
    line = reached_line(result, TARGETS)
    assert line.startswith("precision reached in 1 of 3 configurations") and "widest: vm TCP_RR 1 B" in line
    assert per_platform_lines(result, TARGETS) == [
        "  native: means 1 of 1; 4 repetitions",
        "  xen: means 0 of 1, ratios 0 of 1; 4 repetitions",
        "  vm: means 0 of 1, ratios 0 of 1; 4 repetitions",
    ]


def timed(rows: list[dict], seconds: float, start: float = 1.8e9) -> list[dict]:
    """The records with times: each cell `seconds` long, back to back."""
    return [
        dict(row, started_at=utc_iso(start + i * seconds), finished_at=utc_iso(start + (i + 1) * seconds))
        for i, row in enumerate(rows)
    ]


def test_a_time_budget_adds_what_fits_each_configurations_next_repetition_first():
    """Cells of 1 s (TCP_RR) and 7 s (RRUL), 5 repetitions so far (80 s); xen wants 5 more of
    each. 120 s of budget leave 40: two blocks of both (32 s), then only TCP_RR's fit."""
    values = {"native": [100] * 5, "xen": [80, 90, 72, 85, 78]}
    rows = timed(records(values), 1.0) + timed(records(values, test="RRULx4"), 7.0, start=1.9e9)
    metric = {"TCP_RR": "throughput_mbit_s", "RRULx4": "throughput_mbit_s"}
    targets = Targets(0.10, 0.05, 5, dict.fromkeys(values, 10), give_up_beyond=None)
    unbounded = plan(rows, metric, "native", targets)
    assert [(b["test"], b["rep"]) for b in unbounded["add"]] == [
        *(("RRULx4", rep) for rep in range(6, 11)),
        *(("TCP_RR", rep) for rep in range(6, 11)),
    ] and "budget" not in unbounded
    result = plan(rows, metric, "native", replace(targets, budget_s=120))
    assert [(b["test"], b["rep"]) for b in result["add"]] == [
        ("RRULx4", 6), ("RRULx4", 7), *(("TCP_RR", rep) for rep in range(6, 11))
    ]  # fmt: skip
    assert result["budget"] == {"budget_s": 120, "spent_s": 80.0, "left_out_cells": 6}
    cut = {(row["test"], row["platform"]): row["cut"] for row in result["configurations"]}
    assert [key for key, value in cut.items() if value] == [("RRULx4", "xen")] and len(cut) == 4
    line = progress_line({"round": 1, "cells": 20, **result}, targets)
    assert "1.33 of the time budget's 2 min of cells spent, which leaves out 6 cells" in line
    assert line.endswith("round 2 adds 14 cells in 7 blocks")
    # Spent: the next round adds nothing, and says what the budget stopped.
    spent = plan(rows, metric, "native", replace(targets, budget_s=80))
    assert spent["add"] == [] and spent["budget"]["left_out_cells"] == 20
    assert "2 stopped short by the time budget (1.33 min of cells" in reached_line(spent, targets)
    # A plan made again under a lower budget keeps what was measured: those cells cost nothing.
    measured = {(platform, "RRULx4", 1, rep) for platform in values for rep in (6, 7)}
    again = plan(rows, metric, "native", replace(targets, budget_s=50), measured=measured)  # overspent
    assert [(b["test"], b["rep"]) for b in again["add"]] == [("RRULx4", 6), ("RRULx4", 7)]


def test_the_baseline_goes_along_even_past_its_maximum():
    # Seen in a run: openvz was planned to 7 repetitions, native went to 9 with xen; when openvz
    # then needed more, its new blocks still had to pair it with a native measured beside it.
    values = {"native": [100] * 9, "openvz": [80, 88, 74, 85, 80, 88, 74], "xen": [80] * 9}
    targets = Targets(value=0.10, ratio=0.05, min_repetitions=5, max_repetitions=dict.fromkeys(values, 9))
    result = plan(records(values), {"TCP_RR": "throughput_mbit_s"}, "native", targets)
    assert [(block["rep"], block["platforms"]) for block in result["add"]] == [
        (10, ["openvz", "native"]),
        (11, ["openvz", "native"]),
    ]  # openvz capped at 9 repetitions; native at 11, each of its extra ones a pair


def test_a_configuration_that_cannot_reach_its_target_at_its_maximum_is_given_up():
    """Its spread predicts a mean still +-25% and a ratio +-27% after 12 blocks (over 1.2 x
    their targets): flagged now, not measured 8 more times; a milder spread is measured on."""
    hopeless_values = {"native": [100] * 4, "xen": [60, 100, 50, 95]}  # +-52% and +-72% after 4
    result = plan(records(hopeless_values), {"TCP_RR": "throughput_mbit_s"}, "native", TARGETS)
    xen = next(row for row in result["configurations"] if row["platform"] == "xen")
    assert xen["gave_up"] and not xen["reached"] and not xen["at_max"]
    assert result["add"] == []
    assert "1 given up early" in reached_line(result, TARGETS)
    assert hopeless(4, 0.19, 0.05, 12) and not hopeless(4, 0.15, 0.05, 12)
    assert not hopeless(4, 0.19, 0.05, 4)  # at its maximum: at_max says it, not gave_up
    assert not hopeless(4, math.inf, 0.05, 12)  # undefined (one value): measured on
    assert not hopeless(4, 0.19, 0.05, 12, beyond=None) and not hopeless(4, 0.19, 0.05, 12, beyond=1.6)
    # Never giving up (give_up_beyond: null): the same configuration is measured on.
    never = replace(TARGETS, give_up_beyond=None)
    result = plan(records(hopeless_values), {"TCP_RR": "throughput_mbit_s"}, "native", never)
    assert not any(row["gave_up"] for row in result["configurations"]) and result["add"]
    assert "given up" not in reached_line(result, never)
    # A configuration that misses two targets is given up only when both are hopeless.
    mixed = {"native": [100, 130, 75, 110], "xen": [80, 110.2, 57, 89.8]}  # means hopeless, ratio +-7.5%
    result = plan(records(mixed), {"TCP_RR": "throughput_mbit_s"}, "native", TARGETS)
    assert [row["gave_up"] for row in result["configurations"]] == [True, False]
    assert result["add"] and all(block["platforms"] == ["xen", "native"] for block in result["add"])


def test_a_figures_own_cap_lets_its_configurations_go_further():
    """TCP_RR 1 B may go to 12 (its figure's cap), the rest of the experiment stops at 9."""
    values = {"native": [100] * 9, "xen": [80, 88, 74, 85, 80, 88, 74, 85, 80]}
    rr = records(values)
    stream = [dict(r, test="TCP_STREAM") for r in rr]
    targets = replace(
        TARGETS, max_repetitions=dict.fromkeys(values, 9),
        configuration_maxima={(p, "TCP_RR", 1): 12 for p in values},
    )  # fmt: skip
    metric = {"TCP_RR": "throughput_mbit_s", "TCP_STREAM": "throughput_mbit_s"}
    result = plan(rr + stream, metric, "native", targets)
    assert result["add"] and {(b["test"], b["platforms"][0]) for b in result["add"]} == {("TCP_RR", "xen")}
    at_max = {(row["test"], row["platform"]): row["at_max"] for row in result["configurations"]}
    assert at_max[("TCP_STREAM", "xen")] and not at_max[("TCP_RR", "xen")]


def test_failed_tries_count_against_the_maximum():
    """Seen in a load run: wireguard's latency-under-load cells failed 45 times in 57 tries, and
    each round gave it new repetitions (with whole blocks of the others) until 12 had measured."""
    values = {"native": [100] * 10, "wireguard": [50, 54, 46]}
    targets = Targets(value=0.10, ratio=0.10, min_repetitions=5, max_repetitions=dict.fromkeys(values, 12))
    failed = [
        {"platform": "wireguard", "test": "TCP_RR", "size_bytes": 1, "rep": rep} for rep in range(4, 11)
    ]
    result = plan(records(values), {"TCP_RR": "throughput_mbit_s"}, "native", targets, failed=failed)
    assert [block["rep"] for block in result["add"]] == [11, 12]  # 3 measured + 7 failed + 2 = 12 tries
    capped = plan(records(values), {"TCP_RR": "throughput_mbit_s"}, "native", targets, failed=failed * 2)
    assert capped["add"] == []
    wireguard = next(row for row in capped["configurations"] if row["platform"] == "wireguard")
    assert wireguard["at_max"] and not wireguard["reached"]
    # A record without the metric (a starved probe's latency inflation) is a try too, not a value.
    starved = records(values) + [
        {"platform": "wireguard", "test": "TCP_RR", "size_bytes": 1, "rep": rep, "throughput_mbit_s": None}
        for rep in range(4, 11)
    ]
    assert plan(starved, {"TCP_RR": "throughput_mbit_s"}, "native", targets)["add"] == result["add"]


def test_blocks_run_back_to_back_in_a_seeded_shuffled_order():
    config = tiny_config(
        platforms={**tiny_config()["platforms"], "other": tiny_config()["platforms"]["native"]},
        run_order_seed=7,
    )
    experiment = load_experiment(config)
    first = order.platform_order(experiment, "TCP_RR", 1, 1)
    assert sorted(first) == ["native", "other"]
    assert order.platform_order(experiment, "TCP_RR", 1, 1) == first  # seeded: reproducible
    in_config_order = replace(experiment, order=replace(experiment.order, shuffled=False))
    assert order.platform_order(in_config_order, "TCP_RR", 1, 1) == ["native", "other"]
    blocks = order.blocks(experiment)
    rank = order.Priorities(experiment)

    ranked = sorted(
        ((p, t, s, r) for t, s in blocks for p in ("native", "other") for r in (1, 2)),
        key=lambda cell: -rank(*cell),
    )
    # Repetition-major, and the two platforms of a block next to each other.
    assert [cell[3] for cell in ranked] == [1] * 6 + [2] * 6
    for a, b in zip(ranked[::2], ranked[1::2], strict=True):
        assert (a[1], a[2], a[3]) == (b[1], b[2], b[3]) and a[0] != b[0]
    assert rank("native", "TCP_RR", 1, 1) < order.FIRST
    # A block job's priority is its first platform's.
    assert rank(None, "TCP_RR", 1, 1) == rank(first[0], "TCP_RR", 1, 1)


def test_cells_measured_again_in_a_later_run_are_no_pairs_and_get_blocks_of_their_own():
    """xen's cells failed in a first run and were measured an hour later: its repetitions have
    no partner measured beside them, so its ratio is undefined and the plan gives it new
    blocks (with native) instead of pairing it with a native of another hour."""
    found = records({"native": [100, 100, 100, 100], "xen": [80, 80, 80, 80]})
    for record in found:
        hour = 13 if record["platform"] == "xen" else 12
        record["started_at"] = f"2026-11-29T{hour}:00:{record['rep']:02d}.000Z"
    assert block_pairs({r["rep"]: r for r in found[4:]}, {r["rep"]: r for r in found[:4]}) == []
    result = plan(found, {"TCP_RR": "throughput_mbit_s"}, "native", TARGETS)
    xen = next(row for row in result["configurations"] if row["platform"] == "xen")
    assert xen["ratio_precision"] is None and not xen["reached"]
    assert [(block["rep"], block["platforms"]) for block in result["add"]] == [
        (rep, ["xen", "native"]) for rep in (5, 6, 7, 8)
    ]
    # Measured seconds apart, the same records are pairs.
    for record in found:
        record["started_at"] = (
            f"2026-11-29T12:00:{record['rep'] * 2 + (record['platform'] == 'xen'):02d}.000Z"
        )
    assert len(block_pairs({r["rep"]: r for r in found[4:]}, {r["rep"]: r for r in found[:4]})) == 4


def test_a_round_adds_whole_blocks_of_the_platforms_measured_in_blocks():
    """A block is one job: where xen needs more repetitions, its added blocks hold openvz too
    (measured in blocks), and native (the baseline); a platform of its own (vm) only where it
    needs more."""
    found = records({"native": [100, 101, 99, 100], "openvz": [90, 90, 90, 90], "xen": [80, 88, 74, 85]})
    result = plan(found, {"TCP_RR": "throughput_mbit_s"}, "native", TARGETS, ["native", "openvz", "xen"])
    assert result["add"] and all(sorted(b["platforms"]) == ["native", "openvz", "xen"] for b in result["add"])
    alone = plan(found, {"TCP_RR": "throughput_mbit_s"}, "native", TARGETS)
    assert all(sorted(b["platforms"]) == ["native", "xen"] for b in alone["add"])
