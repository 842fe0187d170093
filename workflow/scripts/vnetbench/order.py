"""The run order: repetition-major blocks, each block's platforms together.

A *block* is one repetition of one (test, size). Its platforms run in one job, their runs
interleaved, so that a platform and the baseline it is compared with are measured a run apart:
the machine's slow drift then cancels in their ratio. Repetition 1 of every block runs before
repetition 2 of any, so the drift spreads over every series. With a shuffled order
(Experiment.order), the blocks of a repetition and the platforms within a block are in a random
order seeded by the run's seed, the repetition and the block; `rep_major` keeps the config's.

Snakemake runs the ready job of highest priority first; `Priorities` turns this order into
those numbers. The order is not a parameter of a job: changing it never reruns one.
"""

import random

from .model import Experiment

# Room for this many platforms per block and blocks per repetition in a priority number.
_PLATFORMS = 100
_BLOCKS = 10_000


def blocks(experiment: Experiment) -> list[tuple[str, int]]:
    """Every (test, size), once, in config order."""
    return list(dict.fromkeys((f.test, size) for f in experiment.figures.values() for size in f.sizes))


def block_order(experiment: Experiment, rep: int) -> list[tuple[str, int]]:
    """The order of the blocks of repetition `rep`."""
    order = blocks(experiment)
    if experiment.order.shuffled:
        random.Random(f"{experiment.order.seed}/{rep}").shuffle(order)
    return order


def platform_order(experiment: Experiment, test: str, size: int, rep: int) -> list[str]:
    """The order of the platforms within one block."""
    order = list(experiment.platforms)
    if experiment.order.shuffled:
        random.Random(f"{experiment.order.seed}/{rep}/{test}/{size}").shuffle(order)
    return order


class Priorities:
    """Each job's priority (higher runs first: repetition, then block, then platform within
    the block; above the other jobs' 0, so a figure's table waits for the cells still to
    measure), each repetition's and block's order drawn once: Snakemake asks for every job
    while it builds the DAG. A block job takes its first platform's."""

    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        self._blocks: dict[int, dict[tuple[str, int], int]] = {}
        self._platforms: dict[tuple[str, int, int], dict[str, int]] = {}

    def __call__(self, platform: str | None, test: str, size: int, rep: int) -> int:
        """A cell's priority; with `platform` None, its block job's."""
        if rep not in self._blocks:
            ordered = block_order(self.experiment, rep)
            self._blocks[rep] = {block: index for index, block in enumerate(ordered)}
        key = (test, size, rep)
        if platform is None:
            return _TOP - (rep * _BLOCKS + self._blocks[rep][(test, size)]) * _PLATFORMS
        if key not in self._platforms:
            ordered = platform_order(self.experiment, test, size, rep)
            self._platforms[key] = {name: index for index, name in enumerate(ordered)}
        block, within = self._blocks[rep][(test, size)], self._platforms[key][platform]
        return _TOP - ((rep * _BLOCKS + block) * _PLATFORMS + within)


_TOP = 10**12
# Above every cell's: the guest image is built before the first cell.
FIRST = _TOP + 1
