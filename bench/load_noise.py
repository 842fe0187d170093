"""Where a load run's cell-to-cell noise comes from, from its records alone (no lab needed).
Three questions, each an assumption behind a way to buy precision with less time:

1. Does it shrink when the paired cells run closer in time? The spread of the within-block
   log-ratio to the baseline, by how far apart the two cells started (quartiles). If so, tighter
   pairing (the baseline run more often in a block) would pay.
2. Does a cell carry over into the next? Each cell's deviation from its configuration's geometric
   mean, by the platform of the cell that ran just before it. If so, a pause or a quiet check
   between cells would pay.
3. Does it average out within a cell? For the RRUL idle TCP probe, the first half of its interim
   results against the second half, and the cells' spread. If the halves of one cell differ as
   much as cells do, longer probes would pay; if they agree, the noise is a state that holds
   through a cell and only more cells average it.

Usage: bench/load_noise.py [RESULTS_DIR]  (default load/results)
"""

import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from vnetbench.model import split_test
from vnetbench.records import load_cells, seconds_of
from vnetbench.stats import t_quantile

BASELINE = "native"
# The figure's metric of each kind of test.
METRICS = {"RRUL": "latency_inflation", "TCP_STREAM": "throughput_mbit_s", "TCP_RR": "transactions_per_s"}


def metric_of(record: dict) -> str:
    return METRICS[split_test(record["test"])[0]]


def value(record: dict) -> float | None:
    found = record.get(metric_of(record))
    return found if isinstance(found, (int, float)) and found > 0 else None


def interval(deviations: list[float]) -> str:
    n, mean = len(deviations), statistics.fmean(deviations)
    half = t_quantile(0.975, n - 1) * statistics.stdev(deviations) / math.sqrt(n)
    return f"{math.expm1(mean):+6.1%} [{math.expm1(mean - half):+6.1%}, {math.expm1(mean + half):+6.1%}]"


def by_distance(cells: list[dict]) -> None:
    print("1. spread (sd) of the within-block log-ratio to native, by how far apart the pair started")
    blocks = defaultdict(dict)
    for record in cells:
        if value(record):
            blocks[(record["test"], record["size_bytes"], record["rep"])][record["platform"]] = record
    points = defaultdict(list)  # kind -> [(seconds apart, platform, test, log-ratio)]
    for (test, _, _), members in blocks.items():
        base = members.get(BASELINE)
        for platform, record in members.items():
            if base and platform != BASELINE:
                apart = abs(seconds_of(record["started_at"]) - seconds_of(base["started_at"]))
                points[split_test(test)[0]].append(
                    (apart, platform, test, math.log(value(record) / value(base)))
                )
    for kind, found in sorted(points.items()):
        centers = defaultdict(list)
        for _, platform, test, log in found:
            centers[(platform, test)].append(log)
        centers = {key: statistics.fmean(logs) for key, logs in centers.items()}
        rows = sorted((apart, (log - centers[(p, t)]) ** 2) for apart, p, t, log in found)
        quarter = len(rows) // 4
        for i in range(4):
            part = rows[i * quarter : (i + 1) * quarter if i < 3 else len(rows)]
            spread = math.sqrt(statistics.fmean(square for _, square in part))
            print(
                f"  {kind:10s} {part[0][0]:5.1f}-{part[-1][0]:5.1f} s apart: {spread:.3f} ({len(part)} pairs)"
            )


def by_predecessor(cells: list[dict]) -> None:
    print("2. a cell's deviation from its configuration's geometric mean, by the cell before it")
    logs = defaultdict(list)
    for index, record in enumerate(cells):
        if value(record):
            logs[(record["platform"], record["test"], record["size_bytes"])].append(
                (index, math.log(value(record)))
            )
    by_before = defaultdict(list)
    for values in logs.values():
        center = statistics.fmean(log for _, log in values)
        for index, log in values:
            if index:
                by_before[(metric_of(cells[index]), cells[index - 1]["platform"])].append(log - center)
    for (metric, before), deviations in sorted(by_before.items()):
        if len(deviations) > 2:
            print(f"  {metric:20s} after {before:12s} n={len(deviations):4d}  {interval(deviations)}")


def within_cell(cells: list[dict]) -> None:
    print("3. RRUL idle TCP probe: the halves of each cell against the cells' spread (log sd)")
    for platform in sorted({record["platform"] for record in cells}):
        halves, means = [], []
        for record in cells:
            if record["platform"] != platform or not record["test"].startswith("RRUL"):
                continue
            samples = [1e6 / rate for _, _, rate in record["load"]["jobs"]["idle_tcp"]["series"] if rate > 0]
            if len(samples) >= 4:
                middle = len(samples) // 2
                halves.append(
                    math.log(statistics.fmean(samples[:middle]) / statistics.fmean(samples[middle:]))
                )
                means.append(math.log(statistics.fmean(samples)))
        if len(means) > 2:
            within = statistics.stdev(halves) / 2  # sd of one half's deviation from the cell's mean
            print(f"  {platform:12s} within a cell {within:.3f}, between cells {statistics.stdev(means):.3f}")


def main(results: Path) -> None:
    measured, _ = load_cells(sorted((results / "raw").glob("*/*/*/*.json")))
    cells = sorted(measured, key=lambda record: seconds_of(record["started_at"]))
    by_distance(cells)
    by_predecessor(cells)
    within_cell(cells)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "load/results"))
