"""Sized runs: how much one run does, so that it lasts about `run_length` seconds.

A run's noise does not shrink with its length here (the placement of its two ends, the
machine's state when its connection starts are drawn once per run), so precision per minute
grows with the number of runs: many short runs beat a few long ones. A sized run does a fixed
number of transactions (request/response: netperf -l -N) or bytes (bulk: -l -BYTES), found
from a calibration of the configuration (platform, test, size) itself, so that every
platform's runs last about as long (an emulated guest does a tenth of native's work in the
same time at large sizes). A calibration is two sized runs: a probe that moves about a
megabyte (a millisecond or two here), whose rate sizes the second, of two run lengths; the
second's rate is the calibration's. It takes about a tenth of a second where a timed run takes
a whole one, and sizes runs as well: a run's noise does not shrink with its length. The first
cell of a configuration makes it (vnetbench.broker, calibrate); it is pinned from then on, by
its file or else by the records it sized.

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


PROBE_BYTES = 1 << 20  # what a calibration's probe moves: milliseconds at any rate seen here
CALIBRATION_LENGTHS = 2  # a calibration's second run lasts this many run lengths


def calibration_run(measurement: Measurement) -> Measurement:
    """A calibration's runs: single sized runs of the configuration, nothing extra measured."""
    return replace(measurement, runs=1, latency=False, cpu=False)


def timed(measurement: Measurement) -> Measurement:
    """One timed run of `duration` seconds of the configuration, as plain (a warm-up)."""
    return replace(calibration_run(measurement), run_length=None)


def probe_amount(test: str, size_bytes: int) -> int:
    """A calibration probe's amount: about PROBE_BYTES moved (a request/response transaction
    moves its size twice), at most 100 transactions, at least one transaction or send."""
    if test in RR_TESTS:
        return max(1, min(100, PROBE_BYTES // (2 * size_bytes)))
    return max(1, PROBE_BYTES // size_bytes) * size_bytes


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
