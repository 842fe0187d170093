"""What RRUL's probes cost the flows beside them, from a load run's own records: the flows' summed
throughput (their interim results) while each probe runs, and after both, over the same before
the first probe, per cell; the median per platform.

Why: a netperf TCP_RR or UDP_RR probe is back to back, not paced as Flent's ping (Debian's
netperf is built without --enable-intervals: `-w 10 -b 1` runs unpaced), and at real-time
priority it takes its CPU from the flows whenever it is runnable. The flows' throughput in the
cell's record is over their whole run, the probes' seconds included.

Usage: bench/load_probe_cost.py [RESULTS_DIR]  (default load/results)
"""

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

EDGE_S = 0.1  # skip each window's edges: an interim interval straddling them mixes both sides


def flows_rate(jobs: dict, low: float, high: float) -> float | None:
    """The flows' summed mean rate over the interim intervals whose middle lies in [low, high]."""
    total = 0.0
    for name, job in jobs.items():
        if not name.startswith(("up", "down")):
            continue
        values = [value for end, length, value in job["series"] if low <= end - length / 2 <= high]
        if not values:
            return None
        total += statistics.fmean(values)
    return total


def probe_cost(record: dict) -> tuple[float, float, float] | None:
    """(during the TCP probe, during the UDP probe, after both) over before the first, or None."""
    jobs = record["load"]["jobs"]
    tcp, udp = jobs["probe_tcp"]["window_s"], jobs["probe_udp"]["window_s"]
    if tcp is None or udp is None:
        return None
    before = flows_rate(jobs, 0.3, tcp[0] - EDGE_S / 2)  # from the flows' first interval in
    spans = [(tcp[0] + EDGE_S, tcp[1] - EDGE_S), (udp[0] + EDGE_S, udp[1] - EDGE_S)]
    rates = [flows_rate(jobs, low, high) for low, high in [*spans, (udp[1] + EDGE_S, udp[1] + 0.9)]]
    if before is None or None in rates:
        return None
    return tuple(rate / before for rate in rates)


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "load/results")
    costs = defaultdict(list)
    for path in sorted((results / "raw").glob("*/RRUL*/*/*.json")):
        record = json.loads(path.read_text())
        if record.get("status") == "measured" and (cost := probe_cost(record)):
            costs[record["platform"]].append(cost)
    for platform, rows in sorted(costs.items()):
        tcp, udp, after = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"{platform}: {len(rows)} cells; the flows' throughput over before the probes: during the "
              f"TCP probe {tcp:.2f}, during the UDP probe {udp:.2f}, after both {after:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
