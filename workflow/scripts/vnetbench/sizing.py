"""Sized runs: how much one run does, so that it lasts about `run_length` seconds.

A run's noise does not shrink with its length here (the placement of its two ends, the
machine's state when its connection starts are drawn once per run), so precision per minute
grows with the number of runs: many short runs beat a few long ones. A sized run does a fixed
number of transactions (request/response: netperf -l -N) or bytes (bulk: -l -BYTES), found
from a calibration: one timed run of the configuration (platform, test, size) itself, so that
every platform's runs last about as long (an emulated guest does a tenth of native's work in
the same time at large sizes). The first cell of a configuration makes it (vnetbench.broker,
calibrate); it is pinned from then on, by its file or else by the records it sized.

Pure functions; the calibration is a cell record (vnetbench.cell) kept in results/calibration.
"""

import math
from dataclasses import replace

from .model import RR_TESTS, Measurement


def amount(calibration: dict, run_length: float) -> int:
    """Transactions (request/response) or bytes (bulk) for a run of about `run_length` seconds
    at the calibration's rate, to two significant digits (bytes: whole sends of the size)."""
    if calibration["test"] in RR_TESTS:
        return _two_digits(max(1.0, calibration["transactions_per_s"] * run_length))
    sends = max(1.0, calibration["throughput_mbit_s"] * 1e6 / 8 * run_length / calibration["size_bytes"])
    return _two_digits(sends) * calibration["size_bytes"]


def timed(measurement: Measurement) -> Measurement:
    """A calibration's run: one timed run of `duration` seconds of the configuration."""
    return replace(measurement, run_length=None, runs=1, latency=False, cpu=False)


def as_calibration(test: str, size_bytes: int, rate: float) -> dict:
    """The fields `amount` reads, from a rate a record kept (trans/s; Mbit/s for bulk)."""
    key = "transactions_per_s" if test in RR_TESTS else "throughput_mbit_s"
    return {"test": test, "size_bytes": size_bytes, "transactions_per_s": None, key: rate}


def _two_digits(value: float) -> int:
    digits = max(0, int(math.floor(math.log10(value))) - 1)
    return int(round(value / 10**digits) * 10**digits)


def kill_after(run_length: float, margin: float) -> float:
    """Seconds a sized run may take before it is killed: twenty times its length (a platform
    slower than the baseline, an emulated guest, takes longer for the same work), plus margin."""
    return math.ceil(20 * run_length) + margin
