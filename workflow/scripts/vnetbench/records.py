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


def config_snapshot(config: dict, directory: str = ".vnetbench/config") -> str:
    """The effective config in a file named after its content, for a process that needs the
    experiment without Snakemake (vnetbench.broker once); written once, never changed."""
    text = json.dumps(config, sort_keys=True, default=str)
    path = os.path.join(directory, f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json")
    if not os.path.exists(path):
        write_json_atomic(path, json.loads(text))
    return path


def guest_facts(state: dict) -> dict:
    """What a vm cell's record (and provenance) says of the QEMU guests it ran on, from
    their state as booted (guests.ensure)."""
    return {key: value for key, value in state.items() if key != "guests"} | {
        "boot_s": {node: entry["boot_s"] for node, entry in state["guests"].items()}
    }
