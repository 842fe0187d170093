"""A cell job: have one cell measured, then write its log and, atomically, its record.

The rule `cell` runs it as `python -I -S cell_client.py OUTPUT LOG MEASUREMENT [GUEST IMAGE
FILES]`, OUTPUT being results/raw/PLATFORM/TEST/SIZE/REP.json, with the run's host facts and
config snapshot in $VNETBENCH_PREFLIGHT and $VNETBENCH_CONFIG_SNAPSHOT. It imports almost nothing (no
site-packages, no json, not even socket.py: its C core does), so a cell pays a few
milliseconds of start-up. The run's broker (vnetbench.broker, in the Snakemake process)
measures the cell; where none answers, `python -m vnetbench.broker once` measures it in a
process of its own. A cell that fails leaves a failure placeholder (vnetbench.records) instead
of its record, and its evidence in its log.
"""

import os
import sys
import time

JOB_STARTED_AT = time.time()
SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
import _socket  # noqa: E402  (socket.py would import enum: 7 ms)

from vnetbench import wire  # noqa: E402  (os only)
from vnetbench.atomic import write_atomic  # noqa: E402  (os only)


def ask_broker(request: bytes) -> bytes | None:
    """The broker's answer, or None when no broker listens for this working directory."""
    name = os.environ.get(wire.ENV)
    if not name:
        return None
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            connection.connect(wire.socket_name(name))
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        connection.sendall(request)
        connection.shutdown(_socket.SHUT_WR)
        answer = wire.receive_all(connection)
    finally:
        connection.close()
    return answer or wire.encode(["failed", "", "the run's broker went away before answering"])


def measure_here(request: bytes, snapshot: str) -> bytes:
    """Measure the cell in a process of its own, with the broker's code."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": SCRIPTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    argv = [sys.executable, "-m", "vnetbench.broker", "once", snapshot]
    done = subprocess.run(argv, input=request, capture_output=True, env=env)
    if done.returncode != 0:
        error = f"vnetbench.broker once failed:\n{done.stderr.decode(errors='replace')}"
        return wire.encode(["failed", "", error])
    return done.stdout


def main(argv: list[str]) -> int:
    output, log_path, measurement, *image = argv
    platform, test, size, rep = output.removesuffix(".json").split("/")[-4:]
    preflight, snapshot = os.environ["VNETBENCH_PREFLIGHT"], os.environ["VNETBENCH_CONFIG_SNAPSHOT"]
    request = wire.encode([repr(JOB_STARTED_AT), platform, test, size, rep, measurement, preflight, *image])
    answer = ask_broker(request) or measure_here(request, snapshot)
    status, log, payload = wire.decode(answer, 3)
    with open(log_path, "w") as stream:
        stream.write(log)
        if status != "ok":
            stream.write(f"FAILED: {payload}\n")
    if status != "ok":
        sys.stderr.write(f"vnetbench: {payload}\n")
        # A placeholder, not a record: the run goes on and draws what exists; it ends with a
        # failure status, and the next run measures this cell again (records.forget_failed).
        from vnetbench.records import failure_placeholder

        write_atomic(output, failure_placeholder(platform, test, int(size), int(rep), payload, log_path))
        return 0
    write_atomic(output, payload.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
