"""This machine while a run measures on it: runs take turns, and idle CPUs stay awake.

Take turns: two runs side by side (two checkouts, two working directories) share the CPUs and
disturb each other's measurements without a word. A run that measures here (the embedded
testbed, or a host that is this machine) holds a machine-wide lock from its start to its end;
another one waits, saying for whom.

Keep CPUs awake: a request/response test is a chain of wake-ups, and a CPU that sleeps when
idle (here a virtual CPU that halts, elsewhere a deep C-state) takes long to wake. How long
depends on what else the machine does, which makes rates swing (bench/noise.py measured it:
rates 8 times lower and twice as variable on these machines). The kernel's PM QoS interface,
/dev/cpu_dma_latency, holds idle CPUs in their shallowest state (polling) while a process keeps
a 0 written to it open, as latency-tuned systems do.

The kernel drops both when their holder dies, even by kill -9: a crash never leaves the
machine locked or spinning.
"""

import contextlib
import fcntl
import json
import os
import struct
import time
from datetime import UTC, datetime

LOCK = "/run/lock/vnetbench-measuring.lock"
_REPEAT_EVERY = 60.0  # seconds between reminders while waiting
PM_QOS = "/dev/cpu_dma_latency"


def keep_cpus_awake(path: str = PM_QOS) -> int | None:
    """Ask that idle CPUs poll rather than sleep; the request holds while the returned
    descriptor is open (see let_cpus_sleep). None where the kernel offers no such request
    (no such device, or not root)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return None
    os.write(fd, struct.pack("i", 0))  # microseconds of wake-up latency a CPU may cost
    return fd


def let_cpus_sleep(fd: int) -> None:
    os.close(fd)


def take_turn(workdir: str, say, path: str = LOCK, poll: float = 0.5) -> int:
    """Wait for the lock and take it; returns the descriptor that holds it (see end_turn)."""
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


def end_turn(fd: int) -> None:
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
