"""What shape of cell buys the most precision per second: run length, runs per cell, pinning.

    .venv/bin/python bench/run_shape.py [BLOCKS] [VARIANTS] [RUNS] [TEST:SIZE,...]
    (needs root; defaults 10 blocks, variants "0.05;0.1", 10 runs per cell, the sample below)

A variant is a run length and netperf options, "0.1 -T 0,1" for runs of 0.1 s with netperf
and netserver bound to CPUs 0 and 1; variants are separated by ";".

On an embedded testbed (native, openvz, xen; CPUs kept awake, as in a run), per size: a
calibration of every platform and variant (a timed 1-s run, as the workflow's), then BLOCKS
blocks per variant, each a cell of RUNS sized runs per platform (the cell's own command, with
latency and CPU as the default figures ask), platforms in a random order per block (seeded),
the variants interleaved block by block.

Per size, run length and platform: the SD of the within-block log ratio to native of one run
(run i against native's run i) and of a cell (mean of its runs), the seconds a cell took, and
from these the seconds of cells per platform that a 95% interval of +-5% on the ratio needs
(normal approximation: (1.96 SD / 0.05)^2 cells). If cell SD ~ run SD / sqrt(RUNS), the runs
of a cell are independent and more runs per cell buy precision as more cells would.
"""

import math
import random
import statistics
import sys

import common
from common import embedded_testbed

SAMPLE = [("TCP_RR", 1), ("TCP_RR", 512), ("TCP_RR", 16384), ("TCP_RR", 131072), ("TCP_RR", 524288),
          ("TCP_RR", 1048576), ("TCP_RR", 20971520), ("UDP_RR", 8), ("UDP_RR", 8192)]  # fmt: skip
PLATFORMS = ("native", "openvz", "xen")


def cell_rates(experiment, shell, platform, test, size, runs, variant, amount=None):
    """(rate of every run, seconds of wall time) of one cell of the cell's own command; a timed
    run where amount is None."""
    length, *options = variant.split()
    return common.cell_rates(
        experiment, shell, platform, test, size, amount, run_length=float(length) if amount else None,
        runs=runs, latency=True, cpu=True, netperf_options=tuple(options),
    )  # fmt: skip


def main(blocks: int, variants: list[str], runs: int, sample: list[tuple[str, int]]) -> None:
    with embedded_testbed(PLATFORMS) as (experiment, shells):
        print(f"{blocks} blocks per size and variant, {runs} sized runs per cell\n")
        print("| test | size | variant (run length, options) | platform | SD of a run's log ratio "
              "| SD of a cell's | s per cell (native) | s of cells for +-5% |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for test, size in sample:
            calibrated = {}
            for variant in variants:
                for platform in PLATFORMS:
                    calibrated[variant, platform] = common.sized_amount(
                        experiment, shells[platform], platform, test, size, float(variant.split()[0])
                    )
            rates = {variant: {p: [] for p in PLATFORMS} for variant in variants}
            walls = {variant: {p: 0.0 for p in PLATFORMS} for variant in variants}
            for block in range(blocks):
                rng = random.Random(f"2007/{test}/{size}/{block}")
                for variant in rng.sample(variants, len(variants)):
                    for platform in rng.sample(PLATFORMS, len(PLATFORMS)):
                        amount = calibrated[variant, platform]
                        values, wall = cell_rates(
                            experiment, shells[platform], platform, test, size, runs, variant, amount
                        )
                        rates[variant][platform].append(values)
                        walls[variant][platform] += wall
            for variant in variants:
                native = rates[variant]["native"]
                per_cell = walls[variant]["native"] / blocks
                for platform in PLATFORMS[1:]:
                    cells = rates[variant][platform]
                    run_logs = [
                        math.log(a / b)
                        for c, n in zip(cells, native, strict=True)
                        for a, b in zip(c, n, strict=True)
                    ]
                    cell_logs = [
                        math.log(statistics.fmean(c) / statistics.fmean(n))
                        for c, n in zip(cells, native, strict=True)
                    ]
                    run_sd, cell_sd = statistics.stdev(run_logs), statistics.stdev(cell_logs)
                    seconds = (1.96 * cell_sd / 0.05) ** 2 * walls[variant][platform] / blocks
                    print(
                        f"| {test} | {size} | {variant} | {platform} | {run_sd:.3f} | {cell_sd:.3f} "
                        f"(run SD/sqrt(runs) {run_sd / math.sqrt(runs):.3f}) | {per_cell:.2f} "
                        f"| {seconds:.1f} |",
                        flush=True,
                    )
            print(f"{test} {size}: done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10,
        sys.argv[2].split(";") if len(sys.argv) > 2 else ["0.05", "0.1"],
        int(sys.argv[3]) if len(sys.argv) > 3 else 10,
        common.sample_arg(sys.argv[4] if len(sys.argv) > 4 else None, SAMPLE),
    )
