"""Cell records of one figure -> one tidy table (one row per platform x size x metric)."""

from dataclasses import asdict

import pandas as pd

from .netperf import RR_TESTS
from .stats import summarize

UNITS = {"throughput_mbit_s": "Mbit/s", "transactions_per_s": "trans/s"}
COLUMNS = [
    "figure", "platform", "label", "test", "size_bytes", "metric", "unit",
    "n", "mean", "std", "cv", "median", "min", "max",
]  # fmt: skip


def figure_table(figure: str, test: str, labels: dict[str, str], records: list[dict]) -> pd.DataFrame:
    """Summarize the records of one figure; `labels` orders the platforms."""
    metrics = list(UNITS) if test in RR_TESTS else ["throughput_mbit_s"]
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if record["test"] != test:
            raise ValueError(
                f"record {record['platform']}/{record['test']}/{record['size_bytes']} is not {test}"
            )
        groups.setdefault((record["platform"], record["size_bytes"]), []).append(record)
    order = {name: index for index, name in enumerate(labels)}
    rows = []
    for platform, size in sorted(groups, key=lambda key: (order[key[0]], key[1])):
        for metric in metrics:
            values = [record[metric] for record in groups[(platform, size)]]
            rows.append(
                {
                    "figure": figure,
                    "platform": platform,
                    "label": labels[platform],
                    "test": test,
                    "size_bytes": size,
                    "metric": metric,
                    "unit": UNITS[metric],
                    **asdict(summarize(values)),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
