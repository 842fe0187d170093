"""Snakemake adapter: measure one cell. See vnetbench.cell."""

import os
import sys

from vnetbench import cell
from vnetbench.config import Cell, platform_from_config
from vnetbench.hosts import HostError
from vnetbench.records import read_json

snakemake = globals()["snakemake"]
wildcards, config = snakemake.wildcards, snakemake.config

with open(snakemake.log[0], "w") as log_file:

    def log(line: str) -> None:
        print(line, file=log_file, flush=True)

    this_cell = Cell(wildcards.platform, wildcards.test, int(wildcards.size_bytes), int(wildcards.rep))
    settings = cell.Settings(
        duration=config["duration"],
        timeout_margin=config["timeout_margin"],
        retries=config["retries"],
        netperf_options=tuple(config["netperf_options"]),
    )
    try:
        platform = platform_from_config(config, wildcards.platform)
        facts = (
            read_json(snakemake.params.preflight)["hosts"]
            if os.path.exists(snakemake.params.preflight)
            else {}
        )
        run_order = {"run_order": config["run_order"], "run_order_seed": config["run_order_seed"]}
        record = cell.run(this_cell, platform, settings, facts, snakemake.output[0], log, run_order)
    except (cell.CellFailed, HostError, OSError) as error:
        log(f"FAILED: {error}")
        print(f"vnetbench: {error}", file=sys.stderr)
        sys.exit(1)
    log(f"ok: {record['throughput_mbit_s']:.3f} Mbit/s in {record['elapsed_s']} s")
