"""Does interleaving a block's runs pair platforms better than running its cells back to back?

    .venv/bin/python bench/interleave.py [BLOCKS] [TEST:SIZE,...]   (needs root; default 16 blocks)

On an embedded testbed (native, openvz, xen; CPUs kept awake, as in a run), per size: each
platform's runs sized from a timed 1-s run to the default run length, then BLOCKS blocks of
each shape, the two shapes in a random order per block (seeded), both with the workflow's
own code and the default cell (5 runs, latency and CPU measured):

- cells: each platform's cell one after the other, its runs one remote command
  (cell.measure; `interleave_runs: false`);
- interleaved: the block's cells together, runs interleaved ABC CBA ... (cell.measure_block,
  the default).

Per size, shape and platform: the ratio to native with its 95% interval (geometric mean of
the within-block ratios, as the figures compute it), the SD of the within-block log ratio,
the seconds a block took, and the blocks a +-5% interval then needs (t quantile, as the
precision rounds judge it). Both shapes must agree on the ratio; the narrower SD wins.
"""

import math
import random
import statistics
import sys
import time
from dataclasses import replace

import common
import yaml
from common import embedded_testbed
from vnetbench import cell
from vnetbench.model import Cell
from vnetbench.precision import paired_ratio
from vnetbench.stats import t_quantile

SAMPLE = [("TCP_RR", 1), ("TCP_RR", 16384), ("TCP_RR", 131072), ("TCP_RR", 1048576), ("UDP_RR", 8),
          ("UDP_RR", 16384)]  # fmt: skip
PLATFORMS = ("native", "openvz", "xen")
DEFAULTS = yaml.safe_load((common.ROOT / "config" / "config.yaml").read_text())
SHAPES = ("cells", "interleaved")


def blocks_for(sd: float, target: float = 0.05) -> int:
    """Blocks whose 95% t interval of the mean log ratio is within +-target, at this SD."""
    n = 2
    while t_quantile(0.975, n - 1) * sd / math.sqrt(n) > math.log1p(target) and n < 1000:
        n += 1
    return n


def main(blocks: int, sample: list[tuple[str, int]]) -> None:
    with embedded_testbed(PLATFORMS) as (experiment, shells):
        settings = experiment.run
        length, runs = DEFAULTS["run_length"], DEFAULTS["runs_per_cell"]
        print(f"{blocks} blocks per shape and size; cells of {runs} sized runs of {length} s\n")
        print("| test | size | shape | platform | ratio to native [95% CI] | SD of the log ratio "
              "| s per block | blocks for +-5% |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for test, size in sample:
            entries = {}
            for name in PLATFORMS:
                measurement = replace(
                    experiment.measurement(name, test, size),
                    run_length=length,
                    runs=runs,
                    latency=True,
                    cpu=True,
                )
                amount = common.sized_amount(experiment, shells[name], name, test, size, length)
                entries[name] = cell.Entry(
                    Cell(name, test, size, 0), experiment.platforms[name], measurement, shells[name], amount,
                    log=lambda _: None,
                )  # fmt: skip
            rates = {shape: {name: [] for name in PLATFORMS} for shape in SHAPES}
            seconds = dict.fromkeys(SHAPES, 0.0)
            for block in range(blocks):
                rng = random.Random(f"2007/{test}/{size}/{block}")
                order = [entries[name] for name in rng.sample(PLATFORMS, len(PLATFORMS))]
                for shape in rng.sample(SHAPES, len(SHAPES)):
                    began = time.monotonic()
                    if shape == "cells":
                        done = {
                            e.cell: cell.measure(
                                e.cell, e.platform, e.measurement, settings, e.log, e.session, amount=e.amount
                            )  # fmt: skip
                            for e in order
                        }
                    else:
                        done = cell.measure_block(order, settings)
                    seconds[shape] += time.monotonic() - began
                    for entry in order:
                        rates[shape][entry.cell.platform].append(done[entry.cell]["transactions_per_s"])
            for shape in SHAPES:
                native = rates[shape]["native"]
                for name in PLATFORMS[1:]:
                    pairs = list(zip(rates[shape][name], native, strict=True))
                    sd = statistics.stdev(math.log(a / b) for a, b in pairs)
                    ratio, per_block = common.interval(paired_ratio(pairs)), seconds[shape] / blocks
                    print(f"| {test} | {size} | {shape} | {name} | {ratio} | {sd:.3f} | {per_block:.2f} "
                          f"| {blocks_for(sd)} |", flush=True)  # fmt: skip
            print(f"{test} {size}: done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 16,
        common.sample_arg(sys.argv[2] if len(sys.argv) > 2 else None, SAMPLE),
    )
