"""Two runs compared (vnetbench.change): the estimator on hand-checked values, the verdicts, and
the command's outputs, exit status and bad-input lines."""

import json
import math
import random
import subprocess
import sys

import pytest
from vnetbench import verdicts
from vnetbench.change import Run, compare, differences, geometric_interval, load_run
from vnetbench.verdicts import Estimate, benjamini_hochberg, holm, welch

from .conftest import ROOT


def test_welch_on_logs_matches_a_hand_computation():
    a, b = [100.0, 110.0, 90.0, 100.0], [80.0, 88.0, 72.0, 80.0]  # B is A x 0.8, same spread
    estimate = welch(a, b)
    ratio, low, high = verdicts.interval(estimate)
    assert ratio == pytest.approx(0.8)
    logs = [math.log(x) for x in a]
    se = math.sqrt(2 * (sum((x - sum(logs) / 4) ** 2 for x in logs) / 3) / 4)
    # equal variances and counts: Welch's df is 2(n-1) = 6, t(0.975, 6) = 2.447
    assert estimate.df == pytest.approx(6) and estimate.se == pytest.approx(se)
    assert math.log(high / ratio) == pytest.approx(2.447 * se, rel=1e-3)
    assert welch([1.0], [2.0, 3.0]) == "too_few"
    assert welch([5.0, 5.0], [4.0, 4.0]) == "no_spread"  # not p = 0


def test_holm_and_benjamini_hochberg_match_published_values():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005 x4, 0.01 x3, 0.03 x2, 0.04 x1, made monotone.
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted 0.005 x4/1, 0.01 x4/2, 0.03 x4/3, 0.04 x4/4, made monotone from the top.
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_a_change_must_exceed_the_minimum_effect_not_merely_be_significant():
    tight = 0.01  # a standard error of 1% on the log scale
    five_percent = Estimate(math.log(0.95), tight, 30)
    twenty_percent = Estimate(math.log(0.80), tight, 30)
    assert verdicts.beyond_margin_p(five_percent, 0.10) > 0.5  # well inside the margin
    assert verdicts.beyond_margin_p(twenty_percent, 0.10) < 1e-6
    assert verdicts.verdict(five_percent, 1.0, 0.01, 0.10, better_when_higher=True) == "same"
    assert verdicts.verdict(twenty_percent, 1e-7, 0.01, 0.10, better_when_higher=True) == "slower"
    assert verdicts.verdict(twenty_percent, 1e-7, 0.01, 0.10, better_when_higher=False) == "faster"
    wide = Estimate(math.log(0.9), 0.2, 5)
    assert verdicts.verdict(wide, 1.0, 0.01, 0.10, True) == "imprecise"
    straddling = Estimate(math.log(0.9), 0.02, 30)  # narrow, but across the 10% line
    assert verdicts.verdict(straddling, 1.0, 0.01, 0.10, True) == "undecided"


def test_drift_between_runs_is_found_beyond_the_repetitions_and_not_invented():
    rng = random.Random(7)
    quiet = [Estimate(rng.gauss(0, 0.01), 0.01, 10) for _ in range(40)]
    assert verdicts.drift(quiet) < 0.005  # the repetitions explain the spread
    drifting = [Estimate(rng.gauss(0, 0.05), 0.01, 10) for _ in range(40)]
    assert 0.035 < verdicts.drift(drifting) < 0.07  # an SD of 5% between runs
    shifted = [Estimate(math.log(0.7) + rng.gauss(0, 0.01), 0.01, 10) for _ in range(40)]
    assert verdicts.drift(shifted) < 0.005  # a change of the whole family is no drift
    assert math.isnan(verdicts.drift(quiet[:5]))  # too few configurations to say


def records(platform: str, rates: list[float], size=1, test="TCP_RR", start_second=0, **extra) -> list[dict]:
    return [
        {"platform": platform, "test": test, "size_bytes": size, "rep": rep, "throughput_mbit_s": rate,
         "started_at": f"2026-11-29T12:00:{start_second + 2 * rep:02d}.000Z", "duration_s": 1, **extra}
        for rep, rate in enumerate(rates, start=1)
    ]  # fmt: skip


def test_the_relative_comparison_cancels_a_machine_that_is_simply_slower():
    """B ran on a day when everything was 20% slower: absolutely, both platforms are slower;
    relative to native, nothing changed."""
    native = [100.0, 104.0, 97.0, 101.0, 99.0, 102.0]
    xen = [80.0, 82.0, 78.0, 81.0, 79.0, 80.5]
    a = Run("A", records("native", native) + records("xen", xen, start_second=1))
    b = Run(
        "B",
        records("native", [v * 0.8 for v in native]) + records("xen", [v * 0.8 for v in xen], start_second=1),
    )
    comparison = compare(a, b)
    changes = {(c.kind, c.platform): c for c in comparison.changes if c.metric == "throughput_mbit_s"}
    assert changes[("absolute", "native")].verdict == "slower" and changes[("absolute", "native")].gates
    assert changes[("absolute", "xen")].verdict == "slower"
    relative = changes[("relative", "xen")]
    assert relative.ratio == pytest.approx(1.0) and relative.verdict == "same" and not relative.gates
    assert comparison.gated_tests == 3 and comparison.tests == 3


def test_a_metric_that_repeats_another_is_tested_once():
    """A request/response test's Mbit/s is its transactions/s times a constant: one test."""
    rates = [100.0, 104.0, 97.0, 101.0]
    a = Run("A", records("native", rates, transactions_per_s=None))
    a = Run("A", [r | {"transactions_per_s": r["throughput_mbit_s"] * 62.5} for r in a.records])
    comparison = compare(a, a)
    assert {c.metric for c in comparison.changes} == {"throughput_mbit_s"}
    assert comparison.redundant == {(("native", "TCP_RR", 1), "transactions_per_s"): "throughput_mbit_s"}


def test_replicates_put_the_spread_between_runs_in_the_interval():
    """Each side's runs agree within themselves, but the runs differ from each other by 15%: with
    one run per side that looks like a change; with two runs per side it is drift."""

    def run(name, level):
        return Run(name, records("native", [level * (1 + 0.002 * i) for i in range(6)]))

    single = compare(run("A", 100.0), run("B", 85.0)).changes[0]
    assert single.verdict == "slower" and single.n_a == 6  # one config: no drift estimate
    replicated = compare([run("A1", 100.0), run("A2", 85.0)], [run("B1", 86.0), run("B2", 99.0)])
    assert replicated.replicated and replicated.changes[0].n_a == 2
    assert replicated.changes[0].verdict in ("imprecise", "undecided") and not replicated.changes[0].gates


def test_what_a_and_b_measured_differently_is_named():
    timed = (
        "timeout -s KILL 16 netperf -P 0 -f m -H 198.18.0.2 -p 12865 -l 1 -t TCP_RR -- -r 1,1 -k THROUGHPUT"
    )
    sized = (
        'sh -c \'runs=$1; shift; while [ "$i" -lt "$runs" ]; do "$@"; done\' sh 5 timeout -s KILL 17 '
        "netperf -P 0 -f m -H 198.18.0.2 -p 12865 -l -3000 -t TCP_RR -- -r 1,1 -k THROUGHPUT"
    )
    a = Run("A", records("native", [1, 2, 3], command=timed) + records("native", [1, 2], size=64))
    b = Run("B", records("native", [1, 2, 3], duration_s=10, command=sized) + records("xen", [1, 2]))
    lines = differences(a, b)
    assert "only A measured 1 configurations: native TCP_RR 64 B" in lines
    assert "only B measured 1 configurations: xen TCP_RR 1 B" in lines
    assert any(line.startswith("native TCP_RR 1 B: run lengths differ") for line in lines)
    # The same netperf options, whatever wraps them and however long the runs: no warning.
    assert not any("netperf options" in line for line in lines), lines


def write_run(folder, recs, provenance=None):
    for record in recs:
        path = (
            folder
            / "raw"
            / record["platform"]
            / record["test"]
            / str(record["size_bytes"])
            / f"{record['rep']}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))
    if provenance:
        (folder / "provenance.json").write_text(json.dumps(provenance))
    return folder


def compare_command(*args, cwd):
    argv = [sys.executable, "-m", "vnetbench", "compare", *map(str, args)]
    env = {"PYTHONPATH": str(ROOT / "workflow" / "scripts"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)


def test_the_command_writes_its_files_and_fails_on_a_regression(tmp_path):
    native = [100.0, 104.0, 97.0, 101.0, 99.0, 102.0]
    a = write_run(tmp_path / "a", records("native", native), {"vnetbench_commit": "abc", "hosts": {}})
    same = write_run(
        tmp_path / "same", records("native", [v * 1.01 for v in native]), {"vnetbench_commit": "abc"}
    )
    slow = write_run(
        tmp_path / "slow", records("native", [v * 0.5 for v in native]), {"vnetbench_commit": "def"}
    )
    done = compare_command(a, same, "--out", tmp_path / "out1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "0 gated regressions" in done.stderr
    done = compare_command(a, slow, "--out", tmp_path / "out2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    summary = (tmp_path / "out2" / "summary.md").read_text()
    assert summary.splitlines()[2].startswith("**1 gated tests** (throughput_mbit_s): the family-wise error")
    assert (
        "## Gated regressions: 1" in summary and "| vnetbench commit **(differs)** | abc | def |" in summary
    )
    table = (tmp_path / "out2" / "changes.csv").read_text()
    assert table.splitlines()[0].endswith("p_value,p_holm,p_bh,verdict,gates") and table.count("slower") == 1
    done = compare_command(f"{a},{same}", f"{slow},{slow}", "--out", tmp_path / "out3", cwd=tmp_path)
    assert "2 runs" in (tmp_path / "out3" / "summary.md").read_text(), done.stderr
    assert (tmp_path / "out2" / "tcp_rr.pdf").read_bytes().startswith(b"%PDF")


def test_bad_input_gets_one_line_naming_the_culprit(tmp_path):
    good = write_run(tmp_path / "good", records("native", [1.0, 2.0, 3.0]))
    other = write_run(tmp_path / "other", records("xen", [1.0, 2.0, 3.0]))
    (tmp_path / "empty").mkdir()
    broken = write_run(tmp_path / "broken", records("native", [1.0, 2.0]))
    (broken / "raw" / "native" / "TCP_RR" / "1" / "2.json").write_text("{not json")
    cases = [
        ((tmp_path / "empty", good), "A: " + str(tmp_path / "empty") + " is not a vnetbench results folder"),
        ((good, other), "A and B have no configuration (platform, test, size) in common"),
        (
            (good, broken),
            "B: " + str(broken / "raw" / "native" / "TCP_RR" / "1" / "2.json") + " is not a cell record",
        ),
    ]
    for (a, b), expected in cases:
        done = compare_command(a, b, "--out", tmp_path / "out", cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.startswith("vnetbench compare: " + expected), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    done = compare_command(good, good, "--gate", "speed", cwd=tmp_path)
    assert done.returncode == 2 and "--gate 'speed' is not a metric" in done.stderr
    assert load_run(str(good), "A").records


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="the embedded testbed needs root")
def test_a_wire_limited_to_100_mbit_is_a_regression_of_the_bulk_test(tmp_path):
    """Two real runs of a small config on the embedded testbed, the second with its wire limited
    (link_rate): the command reports TCP_STREAM slower and exits 1."""
    from .conftest import Workflow, tiny_config

    config = tiny_config(testbed="embedded", platforms={"native": {"label": "Native", "embedded": "native"}},
                         repetitions=3, run_length=0.05, runs_per_cell=2)  # fmt: skip
    config["figures"] = {"bulk": {"test": "TCP_STREAM", "sizes": ["64K"], "title": "TCP bulk"}}
    from vnetbench import testbed

    folders = []
    for name, link_rate in (("before", None), ("after", "100mbit")):
        flow = Workflow(tmp_path / name)
        flow.write_config({**config, "link_rate": link_rate})
        try:
            flow.run(timeout=300)
        finally:
            testbed.down(testbed.for_workdir(flow.directory), log=lambda line: None)
        folders.append(flow.directory / "results")
    done = compare_command(*folders, "--out", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| link rate **(differs)** | unlimited | 100mbit |" in summary
    row = next(
        line
        for line in summary.splitlines()
        if "| absolute | native | TCP_STREAM | 65536 | throughput_mbit_s" in line
    )
    assert float(row.split("|")[8].split()[0]) < 0.1  # 100 Mbit/s of several Gbit/s


def test_a_runs_geometric_mean_and_its_interval():
    center, low, high = geometric_interval([2.0, 8.0])
    # Logs ln 2 and ln 8: mean ln 4, SD sqrt(2) ln 2, so the 95% t half-width (1 degree of
    # freedom) is t(0.975, 1) SD / sqrt(2) = 12.706 ln 2.
    half = 12.706 * math.log(2)
    assert center == pytest.approx(4.0)
    assert (low, high) == (
        pytest.approx(4 * math.exp(-half), rel=1e-3),
        pytest.approx(4 * math.exp(half), rel=1e-3),
    )
    assert geometric_interval([5.0]) == (pytest.approx(5.0),) * 3  # one value: no interval
