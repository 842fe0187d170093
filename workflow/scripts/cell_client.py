"""A cell job: have one cell measured, then write its log and, atomically, its record.

The rule `cell` runs it as `python -I -S cell_client.py OUTPUT LOG PLATFORM TEST SIZE REP
MEASUREMENT PREFLIGHT CONFIG_SNAPSHOT [GUEST IMAGE FILES]`. Standard library only and no
site-packages: a cell pays a few milliseconds of start-up. The run's broker (vnetbench.broker,
in the Snakemake process) measures the cell; where none answers, `python -m vnetbench.broker
once` measures it in a process of its own.
"""

import os
import socket
import subprocess
import sys

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
from vnetbench import wire  # noqa: E402  (standard library only)
from vnetbench.records import write_json_atomic  # noqa: E402


def ask_broker(request: dict) -> dict | None:
    """The broker's answer, or None when no broker listens for this working directory."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.connect(wire.address())
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        wire.send(connection, request)
        answer = wire.receive(connection)
    if answer is None:
        return {"ok": False, "error": "the run's broker went away before answering", "log": []}
    return answer


def measure_here(request: dict, snapshot: str) -> dict:
    """Measure the cell in a process of its own, with the broker's code."""
    import json

    env = {**os.environ, "PYTHONPATH": SCRIPTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "vnetbench.broker", "once", snapshot],
        input=json.dumps(request), capture_output=True, text=True, env=env,
    )  # fmt: skip
    if done.returncode != 0:
        return {"ok": False, "error": f"vnetbench.broker once failed:\n{done.stderr}", "log": []}
    return json.loads(done.stdout)


def main(argv: list[str]) -> int:
    output, log_path, platform, test, size, rep, measurement, preflight, snapshot, *image = argv
    request = {
        "cell": {"platform": platform, "test": test, "size_bytes": int(size), "rep": int(rep)},
        "measurement": measurement,
        "preflight": preflight,
        "image": image,
    }
    answer = ask_broker(request) or measure_here(request, snapshot)
    with open(log_path, "w") as log:
        for line in answer["log"]:
            print(line, file=log)
        if not answer["ok"]:
            print(f"FAILED: {answer['error']}", file=log)
            print(f"vnetbench: {answer['error']}", file=sys.stderr)
            return 1
        record = answer["record"]
        print(f"ok: {record['throughput_mbit_s']:.3f} Mbit/s in {record['elapsed_s']} s", file=log)
    write_json_atomic(output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
