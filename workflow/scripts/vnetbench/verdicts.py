"""Verdicts with error rates that hold over a whole comparison: a change must be larger than a
stated minimum effect, and many tests at once are corrected for their number.

- One test per quantity: H0 "the change is at most the minimum effect" (|log B/A| <=
  log(1 + margin)), one-sided against the margin, so that a verdict says a change *of at least
  that size* happened, not merely some change (a significant 1% is no regression).
- The gate (what fails a CI job) controls the family-wise error rate over its tests: Holm's
  step-down (Holm 1979), valid under any dependence. So P(exit 1 | nothing changed) <= alpha
  however many configurations a run has.
- The report controls the false discovery rate over everything it lists: Benjamini-Hochberg
  (1995). Under no change at all FDR equals FWER, so a comparison of two equal runs lists a
  change with probability at most alpha.
- Between-run drift: two runs on one machine differ by more than their repetitions say. With one
  run per side, the drift of a family (one test, metric and kind over its sizes and platforms) is
  estimated from how far its configurations' B/A spread beyond their own intervals (a robust
  random-effects variance: the tau that brings the MAD of the standardized log-ratios around
  their median to that of a standard normal) and added to each configuration's variance. A
  change that moves the whole family together (a slower kernel) shifts the median, not the
  spread, and stays visible.

Pure functions, no numpy.
"""

import math
import statistics
from dataclasses import dataclass

from .stats import t_cdf, t_quantile

LEVEL = 0.95
# Fewer configurations than this in a family: no drift estimate (the minimum effect alone guards).
DRIFT_MIN_CONFIGURATIONS = 8

# Verdicts, with what each means (the summary prints this table).
MEANINGS = {
    "faster": "better by more than the minimum effect, after the correction for the number of tests",
    "slower": "worse by more than the minimum effect, after the correction for the number of tests",
    "same": "the whole 95% interval lies within +-minimum effect: no change that matters",
    "undecided": "the interval is narrow enough to decide but straddles the minimum effect",
    "imprecise": "the interval is wider than +-minimum effect: more repetitions (or runs) are needed to say",
    "too_few": "fewer than 2 values on a side: no interval",
    "no_spread": "every value on each side is the same: the spread is unknown, so no interval either",
}


@dataclass(frozen=True)
class Estimate:
    """log(B/A) of one quantity, its standard error and degrees of freedom (Welch)."""

    log_ratio: float
    se: float
    df: float


def welch(a: list[float], b: list[float]) -> Estimate | str:
    """The log-ratio of the geometric means of two independent samples with Welch's standard
    error; or the name of the verdict that says why there is none (too_few, no_spread)."""
    if len(a) < 2 or len(b) < 2:
        return "too_few"
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    if va + vb == 0:
        return "no_spread"
    df = (va + vb) ** 2 / ((va**2 / (len(la) - 1) if va else 0) + (vb**2 / (len(lb) - 1) if vb else 0))
    return Estimate(statistics.fmean(lb) - statistics.fmean(la), math.sqrt(va + vb), max(1.0, df))


def drift(estimates: list[Estimate]) -> float:
    """The between-run standard deviation of a family's log-ratios beyond their sampling error:
    the smallest tau for which the log-ratios, standardized by sqrt(se^2 + tau^2) around their
    median, have a robust spread (1.4826 MAD) of at most 1 (0: the repetitions explain the
    spread; NaN: too few configurations to say)."""
    if len(estimates) < DRIFT_MIN_CONFIGURATIONS:
        return math.nan
    center = statistics.median(e.log_ratio for e in estimates)

    def spread(tau: float) -> float:
        return 1.4826 * statistics.median(
            abs(e.log_ratio - center) / math.hypot(e.se, tau) for e in estimates
        )

    if spread(0.0) <= 1:
        return 0.0
    low, high = 0.0, 1.0
    while spread(high) > 1:
        high *= 2
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if spread(middle) > 1 else (low, middle)
    return high


def with_drift(estimate: Estimate, tau: float) -> Estimate:
    if not tau > 0:
        return estimate
    return Estimate(estimate.log_ratio, math.sqrt(estimate.se**2 + tau**2), estimate.df)


def interval(estimate: Estimate, level: float = LEVEL) -> tuple[float, float, float]:
    """(B/A, low, high) at `level`."""
    half = t_quantile(0.5 + level / 2, estimate.df) * estimate.se
    center = estimate.log_ratio
    return math.exp(center), math.exp(center - half), math.exp(center + half)


def beyond_margin_p(estimate: Estimate, margin: float) -> float:
    """One-sided p-value of H0 |log B/A| <= log(1 + margin) against a change beyond it."""
    excess = abs(estimate.log_ratio) - math.log1p(margin)
    return 1 - t_cdf(excess / estimate.se, estimate.df)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted, running = [0.0] * m, 1.0
    for rank, i in enumerate(order):
        running = min(running, p_values[i] * m / (m - rank))
        adjusted[i] = running
    return adjusted


def verdict(
    estimate: Estimate, adjusted_p: float, alpha: float, margin: float, better_when_higher: bool
) -> str:
    if adjusted_p < alpha:
        higher = estimate.log_ratio > 0
        return "faster" if higher == better_when_higher else "slower"
    _, low, high = interval(estimate)
    if 1 / (1 + margin) <= low and high <= 1 + margin:
        return "same"
    return "imprecise" if math.log(high / low) / 2 > math.log1p(margin) else "undecided"
