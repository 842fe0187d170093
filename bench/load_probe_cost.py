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

from vnetbench.load_plots import flows_summed

EDGE_S = 0.1  # skip each window's edges: an interim interval straddling them mixes both sides
STEP_S = 0.01


def flows_rate(jobs: dict, low: float, high: float) -> float | None:
    """The flows' summed rate, up and down, averaged over [low, high] (the time series figure's
    own sum), or None for an empty window."""
    grid = [low + i * STEP_S for i in range(int((high - low) / STEP_S) + 1)]
    up, down = (flows_summed(jobs, way, grid) for way in ("up", "down"))
    return (sum(up) + sum(down)) / len(grid) if grid else None


def probe_cost(record: dict) -> tuple[float, float, float] | None:
    """(during the TCP probe, during the UDP probe, after both) over before the first, or None."""
    jobs = record["load"]["jobs"]
    tcp, udp = jobs["probe_tcp"]["window_s"], jobs["probe_udp"]["window_s"]
    if tcp is None or udp is None:
        return None
    before = flows_rate(jobs, 0.3, tcp[0] - EDGE_S / 2)  # from the flows' first interval in
    spans = [(tcp[0] + EDGE_S, tcp[1] - EDGE_S), (udp[0] + EDGE_S, udp[1] - EDGE_S)]
    rates = [flows_rate(jobs, low, high) for low, high in [*spans, (udp[1] + EDGE_S, udp[1] + 0.8)]]
    if not before or None in rates:
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
