"""Snakemake adapter: the plan of the next precision round. See vnetbench.precision."""

import sys

from vnetbench.precision import Targets, plan, progress_line
from vnetbench.records import read_json, write_json_atomic

snakemake = globals()["snakemake"]
params = snakemake.params
records = [read_json(path) for path in snakemake.input]
targets = Targets(**params.targets)
round_ = int(snakemake.wildcards.round)
result = {"round": round_, "cells": len(records), **plan(records, params.metric_of, params.baseline, targets)}
write_json_atomic(snakemake.output[0], result)
line = progress_line(result, targets)
print(f"vnetbench: {line}", file=sys.stderr, flush=True)
with open(snakemake.log[0], "w") as log:
    print(line, file=log)
