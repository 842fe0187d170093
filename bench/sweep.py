"""A long sweep on loopback: N one-second cells, then check that nothing was lost.

    .venv/bin/python bench/sweep.py [CELLS] [--cores 4]

Runs N one-second TCP_RR/UDP_RR cells (10 sizes x 2 tests x N/20 repetitions) with the
real workflow against a real local netserver, then checks that every cell has exactly
one complete record, that no temporary file is left, and that no two cells overlapped.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import snakemake, tiny_config, workflow_copy
from vnetbench.records import seconds_of as stamp

SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cells", type=int, nargs="?", default=2000)
    parser.add_argument("--cores", default="1")
    args = parser.parse_args()
    repetitions = max(1, args.cells // (2 * len(SIZES)))
    figures = {
        "tcp": {"test": "TCP_RR", "sizes": SIZES, "title": "TCP"},
        "udp": {"test": "UDP_RR", "sizes": SIZES, "title": "UDP"},
    }
    config = tiny_config(12899, repetitions=repetitions, figures=figures)
    expected = repetitions * 2 * len(SIZES)
    with tempfile.TemporaryDirectory(prefix="vnetbench-sweep-") as tmp:
        flow = workflow_copy(Path(tmp) / "flow", config)
        began = time.monotonic()
        snakemake(flow, "--cores", args.cores)
        wall = time.monotonic() - began
        paths = sorted((flow / "results" / "raw").rglob("*.json"))
        records = [json.loads(path.read_text()) for path in paths]
        complete = [r for r in records if r["throughput_mbit_s"] > 0 and r["raw_output"]]
        spans = sorted((stamp(r["started_at"]), stamp(r["finished_at"])) for r in records)
        overlaps = sum(1 for (_, end), (start, _) in zip(spans, spans[1:], strict=False) if start < end)
        leftovers = list((flow / "results").rglob(".tmp-*"))
    print(f"cells: {expected} one-second cells, --cores {args.cores}")
    print(f"records: {len(records)} written, {len(complete)} complete, {len(leftovers)} temporary files left")
    print(f"overlapping cells: {overlaps}")
    print(f"wall time: {wall:.0f} s ({wall / expected:.2f} s per cell)")
    assert len(complete) == expected and not leftovers and overlaps == 0, "something was lost"


if __name__ == "__main__":
    main()
