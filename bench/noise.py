"""Noise control: which measures lower the run-to-run variation on this machine?

    .venv/bin/python bench/noise.py [ROUNDS]      (needs root; about ROUNDS x 12 s)

On an embedded testbed, blocks of two 1-second TCP_RR 1 B runs (native, then openvz, back to
back, as the workflow's blocks run them), under each variant in turn; every round runs every
variant once, in a shuffled order, so the machine's drift spreads over all of them:

- as is: the cell's command, idle CPUs left to sleep;
- awake: idle CPUs held awake (PM QoS, vnetbench.machine), with and without pinning;
- pinned: netperf -T 0,1 (netperf on CPU 0, netserver on CPU 1), or -T 1,1 (both on CPU 1);
- warm-up: an unrecorded 1-second run right before the block.

For each variant: the coefficient of variation of the native runs and of the within-block
openvz/native ratios, each with a 95% bootstrap interval of its quotient to the as-is
variant's (resampling rounds, seed 2007: common.quotient_interval). A variant helps only
where that interval lies below 1.
"""

import random
import statistics
import sys

from common import embedded_testbed, quotient_interval, rate, verdict
from vnetbench import machine

# name: (netperf options, CPUs kept awake, warm-up)
VARIANTS = {
    "as is": ((), False, False),
    "awake": ((), True, False),
    "awake, pinned 1,1": (("-T", "1,1"), True, False),
    "pinned 0,1": (("-T", "0,1"), False, False),
    "pinned 1,1": (("-T", "1,1"), False, False),
    "warm-up": ((), False, True),
}


def cv(values) -> float:
    return statistics.stdev(values) / statistics.fmean(values)


def main(rounds: int) -> None:
    with embedded_testbed(("native", "openvz"), awake=False) as (experiment, shells):
        results = {variant: {"native": [], "ratio": []} for variant in VARIANTS}
        order = list(VARIANTS)
        for round_ in range(rounds):
            random.Random(f"2007/{round_}").shuffle(order)
            for variant in order:
                options, awake, warm_up = VARIANTS[variant]
                held = machine.keep_cpus_awake() if awake else None
                if warm_up:
                    rate(experiment, shells["native"], "native", 1, netperf_options=options)
                native = rate(experiment, shells["native"], "native", 1, netperf_options=options)
                openvz = rate(experiment, shells["openvz"], "openvz", 1, netperf_options=options)
                if held is not None:
                    machine.let_cpus_sleep(held)
                results[variant]["native"].append(native)
                results[variant]["ratio"].append(openvz / native)
            print(f"round {round_ + 1}/{rounds}", file=sys.stderr)

    print(f"native TCP_RR 1 B and openvz/native within blocks, {rounds} rounds of 1-second runs:")
    reference = results["as is"]
    for variant, values in results.items():
        line = f"  {variant:17s} native {statistics.median(values['native']):7,.0f}/s"
        line += f" CV {cv(values['native']):5.1%}, ratio CV {cv(values['ratio']):5.1%}"
        if variant != "as is":
            for what in ("native", "ratio"):
                q, low, high = quotient_interval(values[what], reference[what], cv)
                line += f" | {what} CV x{q:.2f} [{low:.2f}, {high:.2f}] {verdict(low, high, rounds)}"
        print(line)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
