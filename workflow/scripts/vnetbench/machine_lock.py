"""Runs that measure on this machine take turns.

Two such runs side by side (two checkouts, two working directories) share the CPUs and
disturb each other's measurements without a word. A run that measures here (the embedded
testbed, or a host that is this machine) holds a machine-wide lock from its start to its end;
another one waits, saying for whom. The kernel drops the lock when its holder dies, even by
kill -9, so a crash never blocks the next run.
"""

import contextlib
import fcntl
import json
import os
import time
from datetime import UTC, datetime

LOCK = "/run/lock/vnetbench-measuring.lock"
_REPEAT_EVERY = 60.0  # seconds between reminders while waiting


def acquire(workdir: str, say, path: str = LOCK, poll: float = 0.5) -> int:
    """Wait for the lock and take it; returns the descriptor that holds it (see release)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    with contextlib.suppress(PermissionError):  # another user made it: fine as it is
        os.fchmod(fd, 0o666)  # whoever created it, every user's runs take turns through it
    said_at = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if said_at is None or time.monotonic() - said_at > _REPEAT_EVERY:
                say(f"waiting for {_holder(fd)} to finish: runs that measure on this machine take turns")
                said_at = time.monotonic()
            time.sleep(poll)
    if said_at is not None:
        say("the other run finished; this one goes on")
    holder = {"pid": os.getpid(), "workdir": os.path.abspath(workdir), "since": _now()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    return fd


def release(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.close(fd)  # closing the descriptor drops the lock


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"the run in {holder['workdir']} (pid {holder['pid']}, measuring since {holder['since']})"
    except (ValueError, KeyError, OSError):
        return "another run"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
