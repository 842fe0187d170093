"""Result files: written so that a reader never sees half of one, and read back.

Standard library only.
"""

import hashlib
import json
import os
from datetime import UTC, datetime

from .atomic import write_atomic


def utc_now() -> str:
    return utc_iso(datetime.now(UTC).timestamp())


def utc_iso(seconds: float) -> str:
    """A Unix time as the records write it: 2026-11-28T23:36:42.123Z."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


# A cell that could not be measured leaves this placeholder at its record's path, so that the
# rest of the run (precision rounds, figures, report) goes on with the cells that exist. It
# holds no measurement; the next run removes it (forget_failed) and measures the cell again.
FAILED_PREFIX = b'{"failed": true'
_PLACEHOLDER_MAX = 4096  # bytes: records, with netperf's raw output, are larger


def failure_placeholder(platform: str, test: str, size_bytes: int, rep: int, error: str, log: str) -> bytes:
    first = (error.strip().splitlines() or ["unknown error"])[0][:300]
    fields = {"platform": platform, "test": test, "size_bytes": size_bytes, "rep": rep, "error": first,
              "log": log, "failed_at": utc_now()}  # fmt: skip
    return FAILED_PREFIX + b", " + json.dumps(fields)[1:].encode() + b"\n"


def is_failed(record: dict) -> bool:
    return record.get("failed") is True


def split_failed(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(measured records, failure placeholders)."""
    return [r for r in records if not is_failed(r)], [r for r in records if is_failed(r)]


RESULT_ROOTS = ("results/raw",)  # where cells write


def failed_placeholders(roots: tuple[str, ...] = RESULT_ROOTS) -> list[str]:
    """Paths of the failure placeholders under `roots` (a walk, reading only small files' heads)."""
    found = []
    for directory, _, names in (entry for root in roots for entry in os.walk(root)):
        for name in names:
            path = os.path.join(directory, name)
            try:
                if os.path.getsize(path) < _PLACEHOLDER_MAX:
                    with open(path, "rb") as stream:
                        if stream.read(len(FAILED_PREFIX)) == FAILED_PREFIX:
                            found.append(path)
            except OSError:
                continue
    return found


def forget_failed(roots: tuple[str, ...] = RESULT_ROOTS) -> list[str]:
    """Remove the failure placeholders of an earlier run, so that their cells run again."""
    paths = failed_placeholders(roots)
    for path in paths:
        os.unlink(path)
    return paths


def config_snapshot(config: dict, directory: str = ".vnetbench/config") -> str:
    """The effective config in a file named after its content, for a process that needs the
    experiment without Snakemake (vnetbench.broker once); written once, never changed."""
    text = json.dumps(_text_keys(config), sort_keys=True, default=str)
    path = os.path.join(directory, f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json")
    if not os.path.exists(path):
        write_json_atomic(path, json.loads(text))
    return path


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
