"""What does netperf's latency histogram cost a request/response rate?

    .venv/bin/python bench/latency_cost.py [PAIRS]      (needs root; about PAIRS x 4.5 s)

Any latency selector (P50_LATENCY, ...) turns netperf's histogram on, which times every
transaction. On an embedded testbed (idle CPUs kept awake, as in a run), native TCP_RR runs of
1 s at 1 B and 64 KB, in interleaved pairs (order alternating): the cell's command as is, and
the same with the latency selectors; and, for the CPU measurement (-c -C), the same again.
Prints each variant's rate over the plain one: the geometric mean of the within-pair ratios
with its 95% t interval; and whether it makes the rate noisier: the ratio of the two arms'
standard deviations (of log rates) with a 95% bootstrap interval, resampling the pairs.
"""

import math
import random
import statistics
import sys
import tempfile
from dataclasses import replace

from common import tiny_config
from vnetbench import cell, machine, netperf, netserver, testbed
from vnetbench.config import load_experiment
from vnetbench.hosts import KeptShell, open_session
from vnetbench.precision import paired_ratio

SIZES = (1, 65536)


def main(pairs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vnetbench-latency-") as tmp:
        platforms = {"native": {"label": "native", "embedded": "native"}}
        experiment = load_experiment(tiny_config(testbed="embedded", platforms=platforms), workdir=tmp)
        platform = experiment.platforms["native"]
        testbed.up(experiment.testbed, log=lambda line: None)
        awake = machine.keep_cpus_awake()
        try:
            netserver.ensure(open_session(platform.server), platform.server)
            shell = KeptShell(platform.client)

            def rate(size: int, **extra) -> float:
                measurement = replace(experiment.measurement("native", "TCP_RR", size), **extra)
                output = shell.run(cell.command(measurement, experiment.run), timeout=30).output
                return netperf.parse_result("TCP_RR", size, output).transactions_per_s

            variants = {"latency histogram": {"latency": True}, "CPU measurement": {"cpu": True}}
            ratios = {(name, size): [] for name in variants for size in SIZES}
            for index in range(pairs):
                for size in SIZES:
                    for name, extra in variants.items():
                        if index % 2:
                            plain, other = rate(size), rate(size, **extra)
                        else:
                            other, plain = rate(size, **extra), rate(size)
                        ratios[(name, size)].append((other, plain))
                print(f"pair {index + 1}/{pairs}", file=sys.stderr)
            shell.close()
        finally:
            if awake is not None:
                machine.let_cpus_sleep(awake)
            testbed.down(experiment.testbed, log=lambda line: None)
    print(f"native TCP_RR, {pairs} interleaved pairs of 1-second runs, rate with / without:")
    for (name, size), values in ratios.items():
        estimate = paired_ratio(values)
        spread, low, high = spread_ratio(values)
        verdict = "noisier" if low > 1 else "quieter" if high < 1 else "undecided"
        print(
            f"  {name:18s} {size:6d} B: {estimate.ratio:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"
            f" (+-{estimate.precision:.1%}); spread with / without {spread:.2f} [{low:.2f}, {high:.2f}]"
            f" ({verdict})"
        )


def spread_ratio(pairs: list[tuple[float, float]], resamples: int = 2000) -> tuple[float, float, float]:
    """sd(log with) / sd(log without), and its 95% percentile bootstrap interval over pairs."""

    def ratio(sample):
        return statistics.stdev(math.log(a) for a, _ in sample) / statistics.stdev(
            math.log(b) for _, b in sample
        )

    rng = random.Random(2007)
    boots = sorted(ratio(rng.choices(pairs, k=len(pairs))) for _ in range(resamples))
    return ratio(pairs), boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
