"""Snakemake adapter: the plan of the next precision round. See vnetbench.precision."""

import sys

from vnetbench.precision import Targets, plan, progress_line
from vnetbench.records import load_cells, measured_cells, write_json_atomic

snakemake = globals()["snakemake"]
params = snakemake.params
# Planned from what was measured: a cell that failed adds nothing and asks for nothing.
records, failed = load_cells(snakemake.input)
targets = Targets(**params.targets)
round_ = int(snakemake.wildcards.round)
# A time budget counts what is measured already as free (a plan made again keeps it).
measured = measured_cells() if targets.budget_s is not None else frozenset()
result = {
    "round": round_,
    "cells": len(records),
    "failed_cells": len(failed),
    **plan(records, params.metric_of, params.baseline, targets, params.together, failed, measured),
}
write_json_atomic(snakemake.output[0], result)
line = progress_line(result, targets)
print(f"vnetbench: {line}", file=sys.stderr, flush=True)
with open(snakemake.log[0], "w") as log:
    print(line, file=log)
