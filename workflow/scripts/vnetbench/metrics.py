"""The metrics a figure's table holds, and how each is read from a cell's record.

The paper's are rates (throughput_mbit_s; transactions_per_s for request/response tests).
A figure may ask for more (Figure.extra_metrics): latency percentiles from netperf's
histogram, and CPU per transaction: the whole machine's when both ends run on this machine
(the embedded testbed, measured around each run), each end's own from netperf -c -C.
"""

from .model import LOAD_TESTS, is_rr, split_test

UNITS = {
    "throughput_mbit_s": "Mbit/s",
    "transactions_per_s": "trans/s",
    "p50_latency_us": "us",
    "p90_latency_us": "us",
    "p99_latency_us": "us",
    "machine_cpu_us_per_transaction": "us CPU/trans",
    "client_cpu_us_per_transaction": "us CPU/trans",
    "server_cpu_us_per_transaction": "us CPU/trans",
    "send_throughput_mbit_s": "Mbit/s",
    "udp_loss_percent": "%",
    "machine_cpu_s_per_gbit": "CPU s/Gbit",
    # Latency under load (RRUL; vnetbench.load): the probes' mean round trip under load and idle.
    "latency_inflation": "x idle",
    "udp_latency_inflation": "x idle",
    "probe_latency_us": "us",
    "idle_latency_us": "us",
    "udp_probe_latency_us": "us",
    "udp_idle_latency_us": "us",
    "upload_mbit_s": "Mbit/s",
    "download_mbit_s": "Mbit/s",
}
# What a latency-under-load cell reports, headline first: the TCP probe's latency under load
# over idle, its UDP twin, the latencies themselves, the flows' throughput each way and
# together, and the TCP probe's percentiles under load (netperf's histogram).
LOAD = ("latency_inflation", "udp_latency_inflation", "probe_latency_us", "idle_latency_us",
        "udp_probe_latency_us", "udp_idle_latency_us", "upload_mbit_s", "download_mbit_s",
        "throughput_mbit_s", "p50_latency_us", "p90_latency_us", "p99_latency_us")  # fmt: skip
RATES = ("throughput_mbit_s", "transactions_per_s")
# The metrics with a precision target: the rates, and latency under load over idle (lower is
# better there).
TARGETED = (*RATES, "latency_inflation", "udp_latency_inflation")
EXTRA = {
    "latency": ("p50_latency_us", "p90_latency_us", "p99_latency_us"),
    "cpu": (
        "machine_cpu_us_per_transaction",
        "client_cpu_us_per_transaction",
        "server_cpu_us_per_transaction",
    ),
}
_READ = {
    "p50_latency_us": lambda r: (r.get("latency_us") or {}).get("p50"),
    "p90_latency_us": lambda r: (r.get("latency_us") or {}).get("p90"),
    "p99_latency_us": lambda r: (r.get("latency_us") or {}).get("p99"),
    "machine_cpu_us_per_transaction": lambda r: (r.get("machine_cpu") or {}).get("us_per_transaction"),
    "machine_cpu_s_per_gbit": lambda r: (r.get("machine_cpu") or {}).get("s_per_gbit"),
    "client_cpu_us_per_transaction": lambda r: _cpu_time(r, "client"),
    "server_cpu_us_per_transaction": lambda r: _cpu_time(r, "server"),
    "udp_loss_percent": lambda r: (
        100 * (1 - r["datagrams_received"] / r["datagrams_sent"]) if r.get("datagrams_sent") else None
    ),
}
# Bulk tests: the receiver's rate is the figure's; the sender's, and what UDP lost between
# them, are kept beside it (a UDP sender can send far more than arrives).
BULK = ("send_throughput_mbit_s", "udp_loss_percent")


def _cpu_time(record: dict, end: str) -> float | None:
    """netperf's CPU per transaction at `end`. A transaction costs some CPU: netperf's 0 (where
    it cannot read the host's CPU time, as inside a gVisor sandbox) is no measurement (records
    written before netperf.py said so hold it)."""
    us = (record.get("cpu") or {}).get(f"{end}_us_per_transaction")
    return us if us is not None and us > 0 else None


def value(record: dict, metric: str) -> float | None:
    """The record's value of `metric`, or None when the cell did not measure it."""
    return _READ[metric](record) if metric in _READ else record.get(metric)


def present(test: str, records: list[dict]) -> list[str]:
    """The metrics of a table: the rates, then every extra metric its records hold (a record
    without it, such as a percentile netperf could not compute, is a missing value)."""
    if split_test(test)[0] in LOAD_TESTS:
        return [m for m in LOAD if any(value(r, m) is not None for r in records)]
    metrics = list(RATES) if is_rr(test) else ["throughput_mbit_s"]
    extras = [metric for group in EXTRA.values() for metric in group] + ["machine_cpu_s_per_gbit", *BULK]
    return metrics + [m for m in extras if any(value(r, m) is not None for r in records)]
