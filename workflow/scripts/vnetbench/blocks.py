"""Blocks as Snakemake jobs: the measuring rules' shell line and tracked parameter, and the
explicit step before a run (`python -m vnetbench prepare`, which `make figures` calls): the
blocks of failed cells measured again, and the results of an earlier version upgraded.

A block (one repetition of one test and size) is one job of the rule `block`, whose outputs
are the records of its platforms (Experiment.block_members); a platform that is no block
member has a job per cell (rule `cell`). Both run the same client with the same line.

Standard library only: the Snakefile imports it at every parse.
"""

import json
import os
import sys
from base64 import urlsafe_b64encode

from .model import Cell, Experiment
from .records import (
    MEASURED,
    RecordError,
    failed_cells,
    load,
    read_optional_json,
    record_paths,
    replace_cell,
    replacement_stamp,
    write_atomic,
)

PREFLIGHT = "results/preflight.json"
# The measuring rules' shell line: the run's start (rules/common.smk, onstart) puts in the
# environment this Python (the client needs no site-packages), the client, and the run's config
# for a job that measures in a process of its own; a cluster job inherits them (sbatch
# --export=ALL). Snakemake reruns a job whose line (this text, before formatting) changed.
ENVIRONMENT = ("VNETBENCH_PYTHON", "VNETBENCH_BLOCK_CLIENT", "VNETBENCH_CONFIG_SNAPSHOT")
SHELL = (
    '"${{VNETBENCH_PYTHON:?is set when a run starts}}" -I -S "$VNETBENCH_BLOCK_CLIENT" '
    '"$VNETBENCH_CONFIG_SNAPSHOT" {params.measurements:q} {output:q} -- {input:q}'
)


def export_environment(package_dir: str, client: str, snapshot: str) -> None:
    """At a run's start, for its jobs: the workflow's own package first on the script jobs'
    import path, before any installed copy (Snakemake appends a script's folder after
    site-packages), and what the measuring jobs' shell line runs (SHELL)."""
    paths = [package_dir, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ.update(zip(ENVIRONMENT, (sys.executable, client, snapshot), strict=True))


METADATA = ".snakemake/metadata"  # Snakemake's record of every output: rule, parameters, code


def measurements_param(experiment: Experiment, platforms: list[str], test: str, size_bytes: int) -> str:
    """What a job's cells measure, per platform (Measurement.as_params), as JSON: the job's only
    tracked parameter, and passed on as it is to the service that measures it."""
    return json.dumps(
        {name: experiment.measurement(name, test, size_bytes).as_params() for name in platforms},
        separators=(",", ":"),
    )


def job_of(experiment: Experiment, this: Cell) -> tuple[str, list[str]]:
    """The rule whose job writes the cell's record, and the platforms of that job."""
    if experiment.in_blocks(this.platform):
        return "block", experiment.block_members
    return "cell", [this.platform]


def retry(experiment: Experiment, log=print) -> list[Cell]:
    """Move the records of every failed cell's block (its own and its mates') to
    results/replaced/, so that the next run measures the block again, whole: a paired ratio
    needs its platforms measured together. Returns the failed cells."""
    failed = []
    for path in failed_cells():
        this = Cell.from_path(path)
        failed.append(this)
        platforms = job_of(experiment, this)[1] if this.platform in experiment.platforms else [this.platform]
        stamp = replacement_stamp()
        for name in platforms:
            replace_cell(Cell(name, this.test, this.size_bytes, this.rep), log, stamp)
    return failed


def check_upgraded(paths: list[str]) -> None:
    """Refuse to run jobs over records of an earlier version that `prepare` did not upgrade:
    the jobs would measure them again."""
    old = [path for path in paths if os.path.exists(path) and _schema_version(path) == 1]
    if old:
        raise RecordError(
            f"{len(old)} records of an earlier version (first: {old[0]}) would be measured again: run "
            "`python -m vnetbench prepare` first (make figures does), which keeps every one that "
            "measures what the config asks"
        )


def _schema_version(path: str) -> int | None:
    try:
        return load(path).schema_version
    except RecordError:
        return None  # no record: its job replaces it


def upgrade(experiment: Experiment, log=print) -> tuple[int, int]:
    """Upgrade the records of an earlier version (schema 1) of this config's cells: each one
    that Snakemake's parameters show measured what the config asks now is rewritten with its
    measurement and schema version (its file's time kept), and Snakemake's metadata of it is
    made the job's that now writes it, so that nothing is measured again; the others, which a
    run would measure anew, go to results/replaced/. Returns (upgraded, replaced)."""
    upgraded = replaced = 0
    wanted = {(c.test, c.size_bytes) for c in experiment.cells()}
    for path in record_paths():
        this = Cell.from_path(path)
        if this.platform not in experiment.platforms or (this.test, this.size_bytes) not in wanted:
            continue
        try:
            record = load(path)
        except RecordError:
            continue
        if record.schema_version != 1:
            continue
        asked = experiment.measurement(this.platform, this.test, this.size_bytes).as_params()
        meta_path = metadata_path(path)
        meta = read_optional_json(meta_path)
        if record.status == MEASURED and meta is not None and repr(asked) not in meta.get("params", []):
            replace_cell(this, log)  # it measured what the config no longer asks
            replaced += 1
            continue
        stat = os.stat(path)
        write_atomic(path, record.upgraded(asked if record.status == MEASURED else None).to_bytes())
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        if meta is not None:
            rule, platforms = job_of(experiment, this)
            logs = [Cell(name, this.test, this.size_bytes, this.rep).log_path for name in platforms]
            param = measurements_param(experiment, platforms, this.test, this.size_bytes)
            meta |= {"rule": rule, "code": SHELL, "params": [repr(param)], "log": sorted(logs)}
            write_atomic(meta_path, json.dumps(meta).encode())
        upgraded += 1
    if upgraded or replaced:
        log(f"upgraded {upgraded} records of an earlier version; {replaced} measured what the config "
            "no longer asks and were moved to results/replaced/")  # fmt: skip
    return upgraded, replaced


def metadata_path(output: str) -> str:
    """Where Snakemake (9, its default file persistence) keeps the metadata of an output."""
    return os.path.join(METADATA, urlsafe_b64encode(output.encode()).decode())
