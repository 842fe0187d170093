"""Numbers in, numbers out: the paper's summary statistics over repetitions."""

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); NaN for n < 2
    cv: float  # std / mean; NaN when undefined
    median: float
    min: float
    max: float


def summarize(values: list[float]) -> Summary:
    if not values:
        raise ValueError("no values to summarize")
    n = len(values)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else math.nan
    cv = std / mean if mean and not math.isnan(std) else math.nan
    return Summary(n, mean, std, cv, statistics.median(values), min(values), max(values))
