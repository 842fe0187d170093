"""Result files: written so that a reader never sees half of one, and read back.

Standard library only: the cell client imports it at every cell.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_json_atomic(path: str, data: dict) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it.

    A crash or a full disk leaves either the old file or the new one, never a
    torn one; the temporary file is removed on any failure.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as stream:
            json.dump(data, stream, indent=1, sort_keys=False)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
