"""How much narrower is the paired interval of a ratio than an unpaired one, on the same data?

    .venv/bin/python bench/paired_vs_unpaired.py [RESULTS_DIR]   (default: results)

For every platform, test and size of a run (make figures' records), and every platform other
than the baseline: the width of the 95% interval of its ratio to the baseline,

- paired (what the figures show): geometric mean of the within-block ratios, Student-t
  interval of their logarithms (vnetbench.comparison.ratios);
- unpaired (what they showed before blocks): ratio of medians with a percentile bootstrap
  resampling the two platforms independently (2000 resamples, seed 2007);

both relative to the ratio, and their quotient.
"""

import statistics
import sys
from collections import defaultdict
from pathlib import Path

from vnetbench.precision import paired_ratio
from vnetbench.records import load


def unpaired_ratio_of_medians(numerator: list[float], denominator: list[float], seed: int = 2007):
    """median(numerator) / median(denominator) with a 95% percentile bootstrap interval that
    resamples both samples independently: the ratio as it was estimated before the pairs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    top, bottom = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    ratios = np.median(rng.choice(top, size=(2000, top.size)), axis=1) / np.median(
        rng.choice(bottom, size=(2000, bottom.size)), axis=1
    )
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(np.median(top) / np.median(bottom)), float(low), float(high)


def main(results: Path, baseline: str = "native") -> None:
    groups: dict[tuple, dict[int, float]] = defaultdict(dict)
    for path in results.glob("raw/*/*/*/*.json"):
        record = load(str(path))
        if not record.measured:
            continue
        record = record.as_dict()
        key = (record["platform"], record["test"], record["size_bytes"])
        groups[key][record["rep"]] = record["throughput_mbit_s"]
    by_platform = defaultdict(list)
    for (platform, test, size), values in sorted(groups.items()):
        base = groups.get((baseline, test, size))
        if platform == baseline or not base:
            continue
        pairs = [(value, base[rep]) for rep, value in values.items() if rep in base]
        paired = paired_ratio(pairs)
        ratio, low, high = unpaired_ratio_of_medians(list(values.values()), list(base.values()))
        by_platform[platform].append(((paired.high - paired.low) / paired.ratio, (high - low) / ratio))
    print(f"95% interval of each ratio to {baseline}, width relative to the ratio (median over sizes):")
    for platform, widths in by_platform.items():
        paired = statistics.median(w for w, _ in widths)
        unpaired = statistics.median(w for _, w in widths)
        quotients = statistics.median(p / u for p, u in widths)
        print(
            f"  {platform:8s} {len(widths):3d} sizes: paired {paired:.1%}, unpaired bootstrap {unpaired:.1%};"
            f" paired/unpaired width {quotients:.2f} (median of the per-size quotients)"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results"))
