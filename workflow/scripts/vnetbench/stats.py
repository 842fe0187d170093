"""Numbers in, numbers out: the paper's summary statistics over repetitions, and the
intervals careful benchmarking asks for (Hoefler and Belli, SC'15; Kalibera and Jones, 2013).

Pure Python: the cell path imports it, and numpy would cost every job its start-up.
"""

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
    mean_ci_low: float  # 95% Student-t interval of the mean; NaN for n < 2
    mean_ci_high: float
    median_ci_low: float  # distribution-free interval of the median (order statistics)
    median_ci_high: float
    median_ci_level: float  # its exact coverage: at least 0.95 when n >= 6


def summarize(values: list[float], level: float = 0.95) -> Summary:
    if not values:
        raise ValueError("no values to summarize")
    n = len(values)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else math.nan
    cv = std / mean if mean and not math.isnan(std) else math.nan
    half = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    low, high, coverage = median_interval(sorted(values), level)
    # A rate, a latency or a CPU time is never below 0, nor is its mean: where the interval's
    # symmetric approximation would reach below 0 (a few very spread values), it stops at 0.
    mean_low = mean - half
    if min(values) >= 0 and mean_low < 0:
        mean_low = 0.0
    return Summary(
        n, mean, std, cv, statistics.median(values), min(values), max(values),
        mean_low, mean + half, low, high, coverage,
    )  # fmt: skip


def median_interval(ordered: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """[x(k), x(n-k+1)] with the largest k whose coverage is still >= `level`.

    The number of values below the median is Binomial(n, 1/2), so the interval covers it
    with probability 1 - 2 P(B <= k - 1). For n = 10 at 95% that is [x(2), x(9)]
    (coverage 97.9%). Below n = 6 no interval reaches 95%: the widest one, [min, max],
    is returned with its lower coverage (n = 5: 93.75%).
    """
    n = len(ordered)
    k = 1
    while k + 1 <= n - k and 1 - 2 * _binom_cdf(k, n) >= level:
        k += 1
    return ordered[k - 1], ordered[n - k], 1 - 2 * _binom_cdf(k - 1, n)


def _binom_cdf(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom (bisection on the CDF)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def t_cdf(t: float, df: int) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, x)
    return 1 - tail if t >= 0 else tail


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1) / (a + b + 2):
        return 1 - _incomplete_beta(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * result / a


def outliers(values: list[float], threshold: float = 3.5) -> list[int]:
    """Indices of values far outside the others: modified z-score |x - median| / (1.4826 MAD)
    above `threshold` (Iglewicz and Hoaglin). With MAD = 0 (most values equal), any value
    that differs from the median by more than 1% of it counts."""
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    if mad == 0:
        return [i for i, v in enumerate(values) if abs(v - median) > 0.01 * abs(median)]
    return [i for i, v in enumerate(values) if abs(v - median) / (1.4826 * mad) > threshold]
