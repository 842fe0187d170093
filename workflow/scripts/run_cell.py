"""Snakemake adapter: measure one cell. See vnetbench.cell."""

import sys
from pathlib import Path

from vnetbench import cell, guests, session
from vnetbench.config import Cell, experiment_from_validated, platform_from_config
from vnetbench.hosts import HostError
from vnetbench.preflight import PreflightFailed
from vnetbench.records import read_optional_json
from vnetbench.testbed import TestbedError

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
        extra = {"run_order": config["run_order"], "run_order_seed": config["run_order_seed"]}
        if platform.virtual_machine:
            image = guests.Image(
                *(Path(snakemake.input[role]) for role in ("kernel", "initramfs", "manifest"))
            )
            experiment = experiment_from_validated(config)

            # Booting takes seconds: say so on the terminal too.
            def say(line: str) -> None:
                log(line)
                print(f"vnetbench: {line}", file=sys.stderr, flush=True)

            state = session.ensure_guests(
                experiment, image, snakemake.params.preflight, config["warmup"], say
            )
            extra["guest"] = guests.record_facts(state)
        facts = (read_optional_json(snakemake.params.preflight) or {}).get("hosts", {})
        record = cell.run(this_cell, platform, settings, facts, snakemake.output[0], log, extra)
    except (cell.CellFailed, HostError, TestbedError, PreflightFailed, OSError) as error:
        log(f"FAILED: {error}")
        print(f"vnetbench: {error}", file=sys.stderr)
        sys.exit(1)
    log(f"ok: {record['throughput_mbit_s']:.3f} Mbit/s in {record['elapsed_s']} s")
