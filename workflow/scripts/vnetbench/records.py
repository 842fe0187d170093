"""Result files: written so that a reader never sees half of one, and read back; a cell's
record as a type, with its schema version, and the one loader of every stored shape.

Standard library only.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from . import netperf
from .atomic import write_atomic
from .errors import VnetbenchError
from .model import Cell


def utc_now() -> str:
    return utc_iso(datetime.now(UTC).timestamp())


def utc_iso(seconds: float) -> str:
    """A Unix time as the records write it: 2026-11-28T23:36:42.123Z."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_of(stamp: str) -> float:
    """A record's time (utc_iso's form) as a Unix time."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def record_bytes(data: dict) -> bytes:
    """A result file's content: indented JSON and a final newline."""
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode()


def write_json_atomic(path: str, data: dict) -> None:
    """Write `data` as JSON so that a reader never sees half of it (atomic.write_atomic)."""
    write_atomic(path, record_bytes(data))


def read_json(path: str) -> dict:
    with open(path) as stream:
        return json.load(stream)


def read_optional_json(path: str) -> dict | None:
    """The file's content, or None when it does not exist (yet)."""
    return read_json(path) if os.path.exists(path) else None


# A cell's record: what was measured, or why it could not be. A failed cell leaves one too
# (status "failed", no measurement), so that the rest of the run (precision rounds, figures,
# report) goes on with the cells that exist; `python -m vnetbench prepare` sets its block to
# run again. Records of schema 1 (no schema_version; a failed one {"failed": true, ...}) are
# upgraded as they are read.
# Schema 3: a cell's rates are total work over total time, and a latency percentile netperf
# could not compute is null (schema 2 held the mean of the runs' rates, and such percentiles as
# 0); a record of schema 2 is read with its figures estimated anew from its runs.
SCHEMA_VERSION = 3
MEASURED, FAILED = "measured", "failed"
_FAILED_MAX = 4096  # bytes: a failed cell's record is small; a measured one holds raw output


class RecordError(VnetbenchError):
    """A result file that is no cell record this version can read."""


@dataclass(frozen=True)
class CellRecord:
    """One cell's record, of any stored shape, as this version reads it."""

    cell: Cell
    status: str  # MEASURED or FAILED
    # What the cell measured (Measurement.as_params()); None in a record of schema 1 that
    # `python -m vnetbench prepare` has not checked against its Snakemake parameters.
    measurement: dict | None
    fields: dict  # the rest: a measured cell's figures, runs and facts; a failed one's error and log
    schema_version: int = SCHEMA_VERSION

    @property
    def measured(self) -> bool:
        return self.status == MEASURED

    def as_dict(self) -> dict:
        """The record as stored (the current schema): the form the analysis reads."""
        head = {"schema_version": SCHEMA_VERSION, "status": self.status, **asdict(self.cell)}
        if self.measurement is not None:
            head["measurement"] = self.measurement
        return head | self.fields

    def to_bytes(self) -> bytes:
        return record_bytes(self.as_dict())

    def upgraded(self, measurement: dict | None) -> "CellRecord":
        """This record in the current schema, with the measurement it was checked to measure."""
        return replace(self, measurement=measurement, schema_version=SCHEMA_VERSION)


def record_of(data: dict, where: str = "a record") -> CellRecord:
    """A stored record, of schema 1 or 2, as a CellRecord."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(f"{where}: schema_version {version!r}, newer than this version reads")
    try:
        cell = Cell(data["platform"], data["test"], int(data["size_bytes"]), int(data["rep"]))
    except (KeyError, TypeError, ValueError) as error:
        raise RecordError(f"{where}: no cell record ({error!r})") from None
    if version == 1:
        status = FAILED if data.get("failed") is True else MEASURED
    else:
        status = data.get("status")
        if status not in (MEASURED, FAILED):
            raise RecordError(f"{where}: status {status!r}, not {MEASURED!r} or {FAILED!r}")
    skip = {"schema_version", "status", "failed", "platform", "test", "size_bytes", "rep", "measurement"}
    fields = {key: value for key, value in data.items() if key not in skip}
    if version < 3 and status == MEASURED:
        fields = reestimated(cell, fields)
    return CellRecord(cell, status, data.get("measurement"), fields, version)


def reestimated(cell: Cell, fields: dict) -> dict:
    """A measured record's figures estimated from its runs as this schema does (netperf.combine):
    a pure function of what the record kept, so that no cell is measured again for it."""
    runs = [
        run | {"latency_us": netperf.computable(run["latency_us"], run.get("transactions"))}
        if run.get("latency_us") else run
        for run in fields.get("runs") or []
    ]  # fmt: skip
    if runs:
        combined = asdict(
            netperf.combine([netperf.result_of(cell.test, cell.size_bytes, run) for run in runs])
        )
        figures = {key: combined[key] for key in ESTIMATED if fields.get(key) is not None}
        return fields | figures | {"runs": runs}
    if fields.get("latency_us"):
        return fields | {"latency_us": netperf.computable(fields["latency_us"], fields.get("transactions"))}
    return fields


ESTIMATED = ("throughput_mbit_s", "transactions_per_s", "send_throughput_mbit_s", "latency_us")


def load(path: str) -> CellRecord:
    try:
        return record_of(read_json(path), path)
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not JSON ({error})") from None


def load_cells(paths) -> tuple[list[dict], list[dict]]:
    """(measured records, failed ones) of the files at `paths`, each as the current schema's dict."""
    records = [load(path) for path in paths]
    return [r.as_dict() for r in records if r.measured], [r.as_dict() for r in records if not r.measured]


def failed_record(cell: Cell, measurement: dict | None, error: str, log: str) -> CellRecord:
    first = (error.strip().splitlines() or ["unknown error"])[0][:300]
    return CellRecord(cell, FAILED, measurement, {"error": first, "log": log, "failed_at": utc_now()})


RESULT_ROOTS = ("results/raw",)  # where cells write
REPLACED = "results/replaced"  # records a new measurement replaced: kept, never deleted


def replacement_stamp() -> str:
    """The folder of results/replaced/ that one replacement (a block's records) goes to."""
    return utc_now().replace(":", "")


def replace_cell(cell: Cell, log=print, stamp: str | None = None) -> None:
    """Move the cell's record and log to results/replaced/{stamp}/, where they stay."""
    stamp = stamp or replacement_stamp()
    for path in (cell.path, cell.log_path):
        if os.path.exists(path):
            kept = os.path.join(REPLACED, stamp, path.removeprefix("results/"))
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            os.replace(path, kept)
            log(f"moved {path} to {kept}")


def record_paths(roots: tuple[str, ...] = RESULT_ROOTS) -> list[str]:
    """Paths of the records under `roots`, sorted (not the temporary files of atomic writes)."""
    return sorted(
        os.path.join(directory, name)
        for directory, _, names in (entry for root in roots for entry in os.walk(root))
        for name in names
        if name.endswith(".json") and not name.startswith(".")
    )


def _failed(path: str) -> bool:
    """Whether the record at `path` is a failed cell's (reading it only if it is small)."""
    try:
        return os.path.getsize(path) < _FAILED_MAX and not load(path).measured
    except (OSError, RecordError):
        return False


def failed_cells(roots: tuple[str, ...] = RESULT_ROOTS) -> list[str]:
    """Paths of the records of failed cells under `roots`."""
    return [path for path in record_paths(roots) if _failed(path)]


def measured_cells(roots: tuple[str, ...] = RESULT_ROOTS) -> frozenset[tuple[str, str, int, int]]:
    """(platform, test, size_bytes, rep) of every cell whose record under `roots` holds a
    measurement."""
    cells = (Cell.from_path(path) for path in record_paths(roots) if not _failed(path))
    return frozenset((c.platform, c.test, c.size_bytes, c.rep) for c in cells)


def config_snapshot_path(config: dict, directory: str = ".vnetbench/config") -> str:
    """Where the effective config is kept for a process that needs the experiment without
    Snakemake (vnetbench.broker once): a file named after its content (write_config_snapshot)."""
    return os.path.join(directory, f"{hashlib.sha256(_snapshot_text(config).encode()).hexdigest()[:16]}.json")


def write_config_snapshot(config: dict, path: str) -> None:
    """Write the snapshot (at a run's start) unless it is there: it never changes."""
    if not os.path.exists(path):
        write_json_atomic(path, json.loads(_snapshot_text(config)))


def _snapshot_text(config: dict) -> str:
    return json.dumps(_text_keys(config), sort_keys=True, default=str)


def _text_keys(value):
    """The config with every key as text: YAML may read a key as a number (long_runs: {512:
    ...}) beside others as text, which JSON cannot sort."""
    if isinstance(value, dict):
        return {str(key): _text_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_text_keys(item) for item in value]
    return value


def guest_facts(state: dict) -> dict:
    """What a vm cell's record (and provenance) says of the QEMU guests it ran on, from
    their state as booted (guests.ensure)."""
    return {key: value for key, value in state.items() if key != "guests"} | {
        "boot_s": {node: entry["boot_s"] for node, entry in state["guests"].items()}
    }
