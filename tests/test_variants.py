"""A and B in one run (vnetbench.variants): each variant against its platform, from the pairs
of its blocks; and a real run of config/variants.yaml on the embedded testbed."""

import os
import random

import pytest
from vnetbench.variants import summary_markdown, variant_table


def block_records(factors: dict[str, float], reps: int = 10, seed: int = 3) -> list[dict]:
    """Blocks of TCP_RR 1 B: the machine drifts by up to 30% between blocks (shared by every
    platform in a block), each cell adds 1% of its own noise."""
    rng = random.Random(seed)
    records = []
    for rep in range(1, reps + 1):
        drift = rng.uniform(0.7, 1.0)
        for second, (platform, factor) in enumerate(factors.items()):
            rate = 10_000 * drift * factor * rng.gauss(1, 0.01)
            records.append({"platform": platform, "test": "TCP_RR", "size_bytes": 1, "rep": rep,
                            "transactions_per_s": rate, "throughput_mbit_s": rate * 16 / 1e6,
                            "started_at": f"2026-12-04T12:{rep:02d}:{second:02d}.000Z"})  # fmt: skip
    return records


def test_blocks_cancel_the_drift_an_a_a_is_the_same_and_a_real_change_is_found():
    records = block_records({"native": 1.0, "again": 1.0, "slow": 0.8})
    table = variant_table(records, {"again": "native", "slow": "native"}, {"TCP_RR": "transactions_per_s"})
    rows = table.set_index("variant")
    assert list(table["metric"]) == ["transactions_per_s"] * 2  # Mbit/s repeats it: not tested
    assert rows.loc["again", "verdict"] == "same" and not rows.loc["again", "gates"]
    assert rows.loc["slow", "verdict"] == "slower" and rows.loc["slow", "gates"]
    assert rows.loc["slow", "ratio_ci_low"] < 0.8 < rows.loc["slow", "ratio_ci_high"] < 0.82
    summary = summary_markdown(table, 0.01, 0.05)
    assert "**2 gated tests**" in summary and "**1 gated regressions.**" in summary


def test_too_few_blocks_get_a_named_verdict():
    table = variant_table(block_records({"native": 1.0, "again": 1.0}, reps=1), {"again": "native"},
                          {"TCP_RR": "transactions_per_s"})  # fmt: skip
    assert list(table["verdict"]) == ["too_few"]


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the embedded testbed needs root")
def test_a_real_run_of_variants_reports_its_a_a_as_no_change(tmp_path):
    """config/variants.yaml, cut to TCP_RR 1 B, on the embedded testbed: every variant is
    measured in native's blocks and results/variants.csv judges it."""
    import pandas as pd
    import yaml
    from vnetbench import testbed
    from vnetbench.records import load

    from .conftest import ROOT, Workflow

    config = yaml.safe_load((ROOT / "config" / "variants.yaml").read_text())
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1], "title": "TCP request/response"}}
    config["repetitions"] = 6
    flow = Workflow(tmp_path / "flow")
    flow.write_config(config)
    try:
        flow.run(timeout=300)
    finally:
        testbed.down(testbed.for_workdir(flow.directory), log=lambda line: None)
    table = pd.read_csv(flow.directory / "results" / "variants.csv").set_index("variant")
    assert table.loc["native_again", "verdict"] in ("same", "undecided", "imprecise")
    assert table.loc["native_one_cpu", "n"] == 6 and table.loc["native_again", "n"] == 6
    one_cpu = [
        load(str(path)) for path in (flow.directory / "results" / "raw" / "native_one_cpu").rglob("*.json")
    ]
    assert len(one_cpu) == 6 and all(r.measurement["netperf_options"] == ["-T", "1,1"] for r in one_cpu)
    assert all("-T 1,1" in r.fields["command"] for r in one_cpu)
    assert (flow.directory / "results" / "variants.md").read_text().startswith("# Variants")
