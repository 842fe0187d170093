"""Snakemake adapter: check every host before any cell. See vnetbench.preflight."""

import sys

from vnetbench import preflight
from vnetbench.config import experiment_from_validated
from vnetbench.records import utc_now, write_json_atomic

snakemake = globals()["snakemake"]
experiment = experiment_from_validated(snakemake.config)
try:
    report = preflight.run(experiment)
except preflight.PreflightFailed as failure:
    write_json_atomic(snakemake.log[0], {"checked_at": utc_now(), "problems": failure.problems})
    print(f"vnetbench: {failure}", file=sys.stderr)
    sys.exit(1)
write_json_atomic(snakemake.log[0], report)
write_json_atomic(snakemake.output[0], report)
