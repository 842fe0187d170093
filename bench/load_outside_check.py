"""An outside check of a load run (`make load`): plain netperf, run by hand on the same path with
none of vnetbench's command building or parsing (the classic test banners, read by eye-simple
column positions), against the run's intervals.

- The probes' idle latency: TCP_RR 1 B for 1 s, then UDP_RR 1 B for 1 s, as a cell's idle
  phases run them, each one's mean round trip 1e6 / (transactions/s), against the run's
  `idle_latency_us` and `udp_idle_latency_us` of native (load/results/figures/rrul.csv). As the
  run's probes (its probe_priority and probe_cpus), both run under `chrt -f 20`, bound with -T,
  against a netserver started by hand under `chrt -f 20` on the server.
- A single flow's throughput: TCP_STREAM of 64 KB sends for 1 s, against native's
  `throughput_mbit_s` of stream_flows_x1.csv.

Usage: bench/load_outside_check.py [RESULTS_DIR] [RUNS]  (default load/results, 12 runs each,
native only). The hand runs alternate TCP_RR and TCP_STREAM; each value is printed.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from common import embedded_testbed
from vnetbench.stats import summarize

PRIORITY = ["chrt", "-f", "20"]  # the run's default probe_priority
PROBES_PORT = "12866"  # the probes' netserver, by hand


def plain(namespace: str, fields: int, *argv: str, realtime: bool = False) -> list[str]:
    """The first line of netperf's classic output (no -k, no -P 0: as typed by hand) with `fields`
    numbers: its result line (TCP_RR's is followed by a line of the remote socket sizes)."""
    prefix = PRIORITY if realtime else []
    done = subprocess.run(["ip", "netns", "exec", namespace, *prefix, "netperf", *argv],
                          capture_output=True, text=True, check=True, timeout=30)  # fmt: skip
    for line in done.stdout.splitlines():
        words = line.split()
        if len(words) == fields and all(w.replace(".", "", 1).isdigit() for w in words):
            return words
    raise ValueError(f"no result line of {fields} numbers in:\n{done.stdout}")


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "load/results")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    rrul = pd.read_csv(results / "figures" / "rrul.csv")
    stream = pd.read_csv(results / "figures" / "stream_flows_x1.csv")
    idle = rrul[(rrul.platform == "native") & (rrul.metric == "idle_latency_us")].iloc[0]
    udp_idle = rrul[(rrul.platform == "native") & (rrul.metric == "udp_idle_latency_us")].iloc[0]
    flow = stream[(stream.platform == "native") & (stream.metric == "throughput_mbit_s")].iloc[0]
    latencies, udp_latencies, throughputs = [], [], []
    with embedded_testbed(("native",)) as (experiment, _):
        namespace = experiment.testbed.netns("a")
        server = experiment.platforms["native"].server.address
        probes_server = subprocess.Popen(
            ["ip", "netns", "exec", experiment.testbed.netns("b"), *PRIORITY, "netserver", "-D",
             "-p", PROBES_PORT, "-L", server], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            measure(namespace, server, runs, latencies, udp_latencies, throughputs)
        finally:
            probes_server.kill()
            probes_server.wait()
    for name, values, row in (("idle TCP_RR 1 B latency (us)", latencies, idle),
                              ("idle UDP_RR 1 B latency (us)", udp_latencies, udp_idle),
                              ("one TCP_STREAM 64 KB flow (Mbit/s)", throughputs, flow)):  # fmt: skip
        hand = summarize(values)
        inside = row.mean_ci_low <= hand.mean <= row.mean_ci_high
        print(f"{name}: by hand mean {hand.mean:.4g} [{hand.mean_ci_low:.4g}, {hand.mean_ci_high:.4g}] "
              f"(n {len(values)}, median {statistics.median(values):.4g}); the run's {row['mean']:.4g} "
              f"[{row.mean_ci_low:.4g}, {row.mean_ci_high:.4g}] (n {int(row.n)}): hand mean "
              f"{'inside' if inside else 'OUTSIDE'} the run's interval")  # fmt: skip


def measure(namespace: str, server: str, runs: int, latencies: list, udp: list, throughputs: list) -> None:
    time.sleep(1)  # the hand-started netserver: listening
    for _ in range(runs):
        # TCP_RR: "16384 131072 1 1 1.00 12751.24" -> the rate is the last field; UDP_RR's line
        # has the same six. In turn, as the idle phases of a cell run them, and bound as the
        # run's (probe_cpus [0, 1]): TCP client CPU 0, server CPU 1; UDP the other way round.
        for test, cpus, values in (("TCP_RR", "0,1", latencies), ("UDP_RR", "1,0", udp)):
            probe = ("-H", server, "-p", PROBES_PORT, "-t", test, "-l", "1", "-T", cpus, "--", "-r", "1,1")
            values.append(1e6 / float(plain(namespace, 6, *probe, realtime=True)[-1]))
        # TCP_STREAM: "131072 16384 65536 1.00 14383.26" (10^6 bits/s) -> the last field.
        throughputs.append(
            float(plain(namespace, 5, "-H", server, "-t", "TCP_STREAM", "-l", "1", "--", "-m", "64K")[-1])
        )


if __name__ == "__main__":
    main()
