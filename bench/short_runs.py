"""Do short sized runs measure what 1-s timed runs measure? Ratio to native and absolute rate.

    .venv/bin/python bench/short_runs.py [BLOCKS] [RUN_LENGTH] [TEST:SIZE,...]
    (needs root; defaults 20 blocks, 0.2 s, the sample below)

On an embedded testbed (native, openvz, xen; CPUs kept awake, as in a run), for a sample of each
figure's sizes: a calibration of every platform (one timed 1-s run, as the workflow's), then
BLOCKS blocks. Each block runs every platform once with a sized run (vnetbench.sizing: the amount
that lasts RUN_LENGTH s at its calibrated rate) and once with a 1-s timed run, the two kinds in
a random order and the platforms in a random order within each (seeded), so drift spreads
over both kinds. Both are the cell's own command on kept shells (cell.command).

Per size and platform:
- the ratio to native from the sized runs and from the 1-s runs (geometric mean of the
  within-block ratios, 95% t interval: precision.paired_ratio), and their quotient, with a
  95% bootstrap interval over blocks (common.quotient_interval): where it excludes 1, short
  runs measure another ratio;
- the absolute rate of the sized runs over the 1-s runs (native), the same way;
- the half-width of both ratio intervals, and the time both kinds spent per block.
"""

import math
import random
import statistics
import sys

from common import (
    cell_rates,
    embedded_testbed,
    interval,
    quotient_interval,
    sample_arg,
    sized_amount,
    verdict,
)
from vnetbench.precision import paired_ratio

SAMPLE = [("TCP_RR", 1), ("TCP_RR", 64), ("TCP_RR", 512), ("TCP_RR", 16384), ("TCP_RR", 524288),
          ("TCP_RR", 1048576), ("TCP_RR", 10485760), ("TCP_RR", 52428800),
          ("UDP_RR", 1), ("UDP_RR", 512), ("UDP_RR", 16384), ("UDP_RR", 32768)]  # fmt: skip
PLATFORMS = ("native", "openvz", "xen")


def run(experiment, shell, platform, test, size, amount=None, run_length=None) -> tuple[float, float]:
    """(rate, seconds of wall time) of one run of the cell's command."""
    (value,), wall = cell_rates(
        experiment, shell, platform, test, size, amount, run_length=run_length, runs=1
    )
    return value, wall


def geometric_mean(values) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def main(blocks: int, run_length: float, sample: list[tuple[str, int]]) -> None:
    with embedded_testbed(PLATFORMS) as (experiment, shells):
        print(f"sized runs of about {run_length:g} s against 1-s timed runs, {blocks} blocks per size\n")
        print("| test | size | amount (native, platform) | platform | ratio to native, sized "
              "| ratio to native, 1 s | sized/1 s | verdict | rate sized/1 s (native) "
              "| s per block (sized, 1 s) |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for test, size in sample:
            amount = {}
            for platform in PLATFORMS:
                amount[platform] = sized_amount(
                    experiment, shells[platform], platform, test, size, run_length
                )
            rates = {kind: {p: [] for p in PLATFORMS} for kind in ("sized", "timed")}
            walls = {"sized": 0.0, "timed": 0.0}
            for block in range(blocks):
                rng = random.Random(f"2007/{test}/{size}/{block}")
                for kind in rng.sample(["sized", "timed"], 2):
                    for platform in rng.sample(PLATFORMS, len(PLATFORMS)):
                        sized = (amount[platform], run_length) if kind == "sized" else ()
                        value, wall = run(experiment, shells[platform], platform, test, size, *sized)
                        rates[kind][platform].append(value)
                        walls[kind] += wall
            native_sized, native_timed = rates["sized"]["native"], rates["timed"]["native"]
            for platform in PLATFORMS[1:]:
                sized = [a / b for a, b in zip(rates["sized"][platform], native_sized, strict=True)]
                timed = [a / b for a, b in zip(rates["timed"][platform], native_timed, strict=True)]
                short = paired_ratio(list(zip(rates["sized"][platform], native_sized, strict=True)))
                long = paired_ratio(list(zip(rates["timed"][platform], native_timed, strict=True)))
                q, low, high = quotient_interval(sized, timed, geometric_mean)
                absolute = quotient_interval(native_sized, native_timed, statistics.median)
                print(
                    f"| {test} | {size} | {amount['native']}, {amount[platform]} | {platform} "
                    f"| {interval(short)} (+-{short.precision:.1%}) "
                    f"| {interval(long)} (+-{long.precision:.1%}) "
                    f"| {q:.3f} [{low:.3f}, {high:.3f}] | {verdict(low, high, blocks, 'differ', 'differ')} "
                    f"| {absolute[0]:.3f} [{absolute[1]:.3f}, {absolute[2]:.3f}] "
                    f"| {walls['sized'] / blocks:.2f}, {walls['timed'] / blocks:.2f} |",
                    flush=True,
                )
            print(f"{test} {size}: done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 20,
        float(sys.argv[2]) if len(sys.argv) > 2 else 0.2,
        sample_arg(sys.argv[3] if len(sys.argv) > 3 else None, SAMPLE),
    )
