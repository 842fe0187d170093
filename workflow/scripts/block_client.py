"""A block job (or a cell job of its own): have its cells measured, then write each cell's log
and, atomically, its record.

The rules `block` and `cell` run it as `python -I -S block_client.py SNAPSHOT MEASUREMENTS
OUTPUT... -- [GUEST IMAGE FILES]`: MEASUREMENTS is the rule's tracked parameter (JSON, passed
on as it is), each OUTPUT a record's path, results/raw/PLATFORM/TEST/SIZE/REP.json. It imports
almost nothing (no site-packages, no json, not even socket.py: its C core does), so a job pays
a few milliseconds of start-up. The run's service (vnetbench.broker, in the Snakemake process)
measures the block in one request; where none answers (a cluster node), `python -m
vnetbench.broker once` measures it in a process of its own, from the run's config SNAPSHOT.
A cell that fails leaves a record of status "failed" and its evidence in its log.
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


def ask_service(request: bytes) -> bytes | None:
    """The service's answer, or None when none listens for this working directory."""
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            connection.connect(wire.socket_name(wire.address()))
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        connection.sendall(request)
        connection.shutdown(_socket.SHUT_WR)
        return wire.receive_all(connection)
    finally:
        connection.close()


def measure_here(request: bytes, snapshot: str) -> bytes:
    """Measure the block in a process of its own, with the service's code."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": SCRIPTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    argv = [sys.executable, "-m", "vnetbench.broker", "once", snapshot]
    done = subprocess.run(argv, input=request, capture_output=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"vnetbench: vnetbench.broker once failed:\n{done.stderr.decode(errors='replace')}")
    return done.stdout


def main(argv: list[str]) -> int:
    snapshot, measurements, *paths = argv
    split = paths.index("--")
    outputs, image = paths[:split], paths[split + 1 :]
    request = wire.encode([repr(JOB_STARTED_AT), measurements, str(len(outputs)), *outputs, *image])
    answer = ask_service(request) or measure_here(request, snapshot)
    fields = wire.decode(answer)
    if len(fields) != 3 * len(outputs):
        sys.stderr.write("vnetbench: the run's service went away before answering\n")
        return 1
    for index, output in enumerate(outputs):
        status, log, payload = fields[3 * index : 3 * index + 3]
        log_path = "results/logs/cells/" + output.removeprefix("results/raw/").removesuffix(".json") + ".log"
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as stream:
            stream.write(log)
        if status == "kept":
            os.utime(output)  # measured before, for what the block asks: kept as it is
            continue
        if status != "ok":
            sys.stderr.write(f"vnetbench: {output}: {log.rstrip().splitlines()[-1]}\n")
        write_atomic(output, payload.encode())
    # A failed cell's record says why: the run goes on and draws what exists, and ends with a
    # failure status; `python -m vnetbench prepare` (make figures runs it) sets its block to be
    # measured again.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
