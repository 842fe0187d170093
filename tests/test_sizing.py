"""Sized runs: the amount a run does, from its calibration, and the runs end to end."""

import json

import pytest
from vnetbench import cell, netperf, sizing
from vnetbench.model import RunSettings, calibration_path

from .conftest import cell_jobs, tiny_config


@pytest.mark.parametrize(
    "calibration, run_length, amount",
    [
        ({"test": "TCP_RR", "size_bytes": 1, "transactions_per_s": 61_234.5}, 0.2, 12_000),
        ({"test": "UDP_RR", "size_bytes": 1, "transactions_per_s": 8.4}, 0.2, 2),
        ({"test": "TCP_RR", "size_bytes": 52428800, "transactions_per_s": 0.3}, 0.2, 1),  # at least one
        # Bulk: bytes, in whole sends of the size (9,000 Mbit/s x 0.1 s / 64 KB = 1,716.6 sends).
        ({"test": "TCP_STREAM", "size_bytes": 65536, "throughput_mbit_s": 9000.0}, 0.1, 1700 * 65536),
    ],
)
def test_the_amount_lasts_about_the_run_length_at_the_calibrated_rate(calibration, run_length, amount):
    assert sizing.amount(calibration, run_length) == amount


def test_a_sized_run_is_netperf_with_a_negative_length_and_a_bound_of_its_own():
    from vnetbench.model import Measurement

    m = Measurement("TCP_RR", 64, 1, (), "local", "netperf", "127.0.0.1", 12865, run_length=0.2)
    argv = cell.command(m, RunSettings(timeout_margin=15), amount=4200)
    assert argv[:4] == ["timeout", "-s", "KILL", "19"]  # 20 x 0.2 s + 15
    assert argv[argv.index("-l") + 1] == "-4200"
    with pytest.raises(ValueError, match="positive whole amount"):
        netperf.command("TCP_RR", 64, 1, "127.0.0.1", 12865, amount=0)


def test_several_runs_per_cell_are_one_command_and_their_total_work_over_total_time(netserver_port):
    from vnetbench.hosts import LocalSession
    from vnetbench.model import Host, Measurement

    m = Measurement(
        "TCP_RR", 1, 1, (), "local", "netperf", "127.0.0.1", netserver_port, run_length=0.02, runs=3
    )
    done = LocalSession(Host("client", "local")).run(cell.command(m, RunSettings(), amount=500), timeout=30)
    assert done.exit_code == 0, done.output
    outputs = cell.split_runs(done.output, 3)
    results = [netperf.parse_result("TCP_RR", 1, output) for output in outputs]
    assert len(results) == 3 and all(r.transactions == 500 for r in results)
    combined = netperf.combine(results)
    assert combined.transactions == 1500
    assert combined.transactions_per_s == pytest.approx(
        1500 / sum(500 / r.transactions_per_s for r in results)
    )
    # A run that fails stops the cell with its exit code, as a single run would.
    broken = Measurement("TCP_RR", 1, 1, (), "local", "netperf", "127.0.0.1", 1, run_length=0.02, runs=3)
    done = LocalSession(Host("client", "local")).run(
        cell.command(broken, RunSettings(), amount=5), timeout=30
    )
    assert done.exit_code != 0 and done.output.count("vnetbench-run-end") == 1


@pytest.mark.slow
def test_sized_runs_end_to_end_calibrated_once_and_pinned(workflow):
    config = tiny_config(run_length=0.05, runs_per_cell=2)
    config["figures"]["udp_small"]["timed_runs"] = True
    workflow.write_config(config)
    workflow.run()
    calibrations = sorted((workflow.directory / "results" / "calibration").rglob("*.json"))
    assert [p.relative_to(workflow.directory).as_posix() for p in calibrations] == [
        calibration_path("native", "TCP_RR", 1),
        calibration_path("native", "TCP_RR", 64),
    ]  # the UDP figure keeps timed runs: no calibration
    amounts = {}
    for path in workflow.records():
        record = json.loads(path.read_text())
        if record["test"] == "UDP_RR":
            assert record["run"] == {"kind": "timed", "seconds": 1}
            continue
        path = workflow.directory / calibration_path("native", "TCP_RR", record["size_bytes"])
        calibration = json.loads(path.read_text())
        assert calibration["raw_output"] and calibration["rep"] == 0
        # Two sized runs: a probe, and a run of two run lengths at the probe's rate.
        probe = calibration["probe"]
        assert probe["run"]["amount"] == sizing.probe_amount("TCP_RR", record["size_bytes"])
        probed = sizing.as_calibration("TCP_RR", record["size_bytes"], probe["transactions_per_s"])
        assert calibration["run"]["amount"] == sizing.amount(probed, 2 * 0.05)
        assert f"-l -{calibration['run']['amount']}" in calibration["command"]
        amount = amounts[record["size_bytes"]] = sizing.amount(calibration, 0.05)
        assert record["run"] == {"kind": "sized", "amount": amount, "target_s": 0.05, "runs": 2}
        assert record["transactions"] == 2 * amount and f"-l -{amount}" in record["command"]
        assert [run["transactions"] for run in record["runs"]] == [amount, amount]
        # Total work over total time: each run did `amount` transactions in its time.
        seconds = sum(amount / run["transactions_per_s"] for run in record["runs"])
        assert record["transactions_per_s"] == pytest.approx(2 * amount / seconds)
        assert all("TRANSACTION_RATE=" in run["raw_output"] for run in record["runs"])
        assert record["calibration"]["rate"] == calibration["transactions_per_s"]

    # The calibration is pinned: with its file gone, a cell measured again takes the rate its
    # configuration's records kept, so runs of two sizes never meet in one statistic.
    for path in calibrations:
        path.unlink()
    lost = workflow.directory / "results" / "raw" / "native" / "TCP_RR" / "64" / "2.json"
    lost.unlink()
    done = workflow.run()
    assert (
        cell_jobs(done) == 1 and not (workflow.directory / calibration_path("native", "TCP_RR", 64)).exists()
    )
    again = json.loads(lost.read_text())
    assert again["run"]["amount"] == amounts[64] and again["calibration"]["source"].startswith("pinned by")
