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
import statistics
import sys

from common import embedded_testbed, quotient_interval, rate, verdict
from vnetbench.precision import paired_ratio

SIZES = (1, 65536)


def main(pairs: int) -> None:
    with embedded_testbed() as (experiment, shells):  # idle CPUs kept awake, as in a run

        def native(size: int, **changes) -> float:
            return rate(experiment, shells["native"], "native", size, **changes)

        variants = {"latency histogram": {"latency": True}, "CPU measurement": {"cpu": True}}
        ratios = {(name, size): [] for name in variants for size in SIZES}
        for index in range(pairs):
            for size in SIZES:
                for name, changes in variants.items():
                    if index % 2:
                        plain, other = native(size), native(size, **changes)
                    else:
                        other, plain = native(size, **changes), native(size)
                    ratios[(name, size)].append((other, plain))
            print(f"pair {index + 1}/{pairs}", file=sys.stderr)
    print(f"native TCP_RR, {pairs} interleaved pairs of 1-second runs, rate with / without:")
    for (name, size), values in ratios.items():
        estimate = paired_ratio(values)
        spread, low, high = spread_ratio(values)
        decided = verdict(low, high, len(values), below="quieter", above="noisier")
        print(
            f"  {name:18s} {size:6d} B: {estimate.ratio:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"
            f" (+-{estimate.precision:.1%}); spread with / without {spread:.2f} [{low:.2f}, {high:.2f}]"
            f" ({decided})"
        )


def spread_ratio(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """sd(log with) / sd(log without), and its 95% bootstrap interval over pairs."""
    return quotient_interval(
        [math.log(a) for a, _ in pairs], [math.log(b) for _, b in pairs], statistics.stdev
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
