"""The run order: repetition-major blocks, each block's platforms back to back.

A *block* is one repetition of one (test, size). Its platforms run one right after the other,
so that a platform and the baseline it is compared with are measured seconds apart: the
machine's slow drift then cancels in their ratio. Repetition 1 of every block runs before
repetition 2 of any, so the drift spreads over every series. With `shuffled`, the blocks of a
repetition and the platforms within a block are in a random order seeded by the run's seed,
the repetition and the block; `rep_major` keeps the config's order.

Snakemake runs the ready cell of highest priority first; `priority` turns this order into
those numbers. The order is not a parameter of a cell: changing it never reruns one.
"""

import random

from .model import Experiment

# Room for this many platforms per block and blocks per repetition in a priority number.
_PLATFORMS = 100
_BLOCKS = 10_000


def blocks(experiment: Experiment) -> list[tuple[str, int]]:
    """Every (test, size), once, in config order."""
    return list(dict.fromkeys((f.test, size) for f in experiment.figures.values() for size in f.sizes))


def block_order(experiment: Experiment, rep: int, shuffled: bool, seed: int) -> list[tuple[str, int]]:
    """The order of the blocks of repetition `rep`."""
    order = blocks(experiment)
    if shuffled:
        random.Random(f"{seed}/{rep}").shuffle(order)
    return order


def platform_order(
    experiment: Experiment, test: str, size: int, rep: int, shuffled: bool, seed: int
) -> list[str]:
    """The order of the platforms within one block."""
    order = list(experiment.platforms)
    if shuffled:
        random.Random(f"{seed}/{rep}/{test}/{size}").shuffle(order)
    return order


def priority(
    experiment: Experiment, platform: str, test: str, size: int, rep: int, shuffled: bool, seed: int
) -> int:
    """Higher runs first: repetition, then block, then platform within the block. Above the
    other jobs' (0): a figure's table waits for the cells still to measure."""
    return Priorities(experiment, shuffled, seed)(platform, test, size, rep)


class Priorities:
    """`priority` for every cell of one run, each repetition's and block's order drawn once:
    Snakemake asks for every cell while it builds the DAG."""

    def __init__(self, experiment: Experiment, shuffled: bool, seed: int):
        self.experiment, self.shuffled, self.seed = experiment, shuffled, seed
        self._blocks: dict[int, dict[tuple[str, int], int]] = {}
        self._platforms: dict[tuple[str, int, int], dict[str, int]] = {}

    def __call__(self, platform: str, test: str, size: int, rep: int) -> int:
        if rep not in self._blocks:
            ordered = block_order(self.experiment, rep, self.shuffled, self.seed)
            self._blocks[rep] = {block: index for index, block in enumerate(ordered)}
        key = (test, size, rep)
        if key not in self._platforms:
            ordered = platform_order(self.experiment, test, size, rep, self.shuffled, self.seed)
            self._platforms[key] = {name: index for index, name in enumerate(ordered)}
        block, within = self._blocks[rep][(test, size)], self._platforms[key][platform]
        return _TOP - ((rep * _BLOCKS + block) * _PLATFORMS + within)


_TOP = 10**12
# Above every cell's: the guest image is built before the first cell.
FIRST = _TOP + 1
