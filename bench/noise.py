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
variant's (resampling rounds, seed 2007). A variant helps only where that interval lies below 1.
"""

import random
import statistics
import sys
import tempfile
from dataclasses import replace

import numpy as np
from common import tiny_config
from vnetbench import cell, machine, netperf, netserver, testbed
from vnetbench.config import load_experiment
from vnetbench.hosts import KeptShell, open_session

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


def quotient_interval(variant: list[float], reference: list[float], statistic, seed: int = 2007):
    """statistic(variant) / statistic(reference), with a 95% bootstrap interval over rounds."""
    rng = np.random.default_rng(seed)
    n = len(variant)
    quotients = []
    for _ in range(2000):
        pick = rng.integers(0, n, n)
        quotients.append(statistic([variant[i] for i in pick]) / statistic([reference[i] for i in pick]))
    low, high = np.percentile(quotients, [2.5, 97.5])
    return statistic(variant) / statistic(reference), low, high


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vnetbench-noise-") as tmp:
        platforms = {name: {"label": name, "embedded": name} for name in ("native", "openvz")}
        experiment = load_experiment(tiny_config(testbed="embedded", platforms=platforms), workdir=tmp)
        testbed.up(experiment.testbed, log=lambda line: None)
        try:
            shells = {}
            for name, platform in experiment.platforms.items():
                netserver.ensure(open_session(platform.server), platform.server)
                shells[name] = KeptShell(platform.client)

            def rate(name: str, options: tuple[str, ...]) -> float:
                measurement = replace(experiment.measurement(name, "TCP_RR", 1), netperf_options=options)
                output = shells[name].run(cell.command(measurement, experiment.run), timeout=30).output
                return netperf.parse_result("TCP_RR", 1, output).transactions_per_s

            results = {variant: {"native": [], "ratio": []} for variant in VARIANTS}
            order = list(VARIANTS)
            for round_ in range(rounds):
                random.Random(f"2007/{round_}").shuffle(order)
                for variant in order:
                    options, awake, warm_up = VARIANTS[variant]
                    held = machine.keep_cpus_awake() if awake else None
                    if warm_up:
                        rate("native", options)
                    native, openvz = rate("native", options), rate("openvz", options)
                    if held is not None:
                        machine.let_cpus_sleep(held)
                    results[variant]["native"].append(native)
                    results[variant]["ratio"].append(openvz / native)
                print(f"round {round_ + 1}/{rounds}", file=sys.stderr)
            for shell in shells.values():
                shell.close()
        finally:
            testbed.down(experiment.testbed, log=lambda line: None)

    print(f"native TCP_RR 1 B and openvz/native within blocks, {rounds} rounds of 1-second runs:")
    reference = results["as is"]
    for variant, values in results.items():
        line = f"  {variant:17s} native {statistics.median(values['native']):7,.0f}/s"
        line += f" CV {cv(values['native']):5.1%}, ratio CV {cv(values['ratio']):5.1%}"
        if variant != "as is":
            for what in ("native", "ratio"):
                q, low, high = quotient_interval(values[what], reference[what], cv)
                verdict = "lower" if high < 1 else "higher" if low > 1 else "undecided"
                line += f" | {what} CV x{q:.2f} [{low:.2f}, {high:.2f}] {verdict}"
        print(line)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
