"""The run's broker: measures cells for the cell jobs, over connections that outlive a cell.

A cell job is a small client (`workflow/scripts/cell_client.py`) that sends its cell to the
broker over a Unix socket (vnetbench.wire) and writes the record it gets back. The broker
keeps one shell open per client host (hosts.KeptShell, over Fabric with strict host keys), so
a cell pays neither Python's heavy imports nor a new SSH connection. It lives in the Snakemake
process that runs the workflow, as a thread started by the onstart hook after the testbed and
preflight and stopped with them: nothing of it outlives the run, even a kill -9.

Where no broker answers (a cluster node that cannot reach the submitting host), the client
runs `python -m vnetbench.broker once`, which measures the cell in a process of its own with
the same code.
"""

import ast
import contextlib
import json
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from . import cell, guests, lifecycle, order, sizing, wire
from .errors import VnetbenchError
from .hosts import KeptShell
from .model import Cell, Experiment, Measurement, calibration_path
from .records import (
    guest_facts,
    is_failed,
    read_json,
    read_optional_json,
    record_bytes,
    utc_iso,
    write_json_atomic,
)


class BrokerError(VnetbenchError):
    """The broker could not start."""


class Broker:
    """Measures cells of one experiment; see the module docstring."""

    def __init__(self, experiment: Experiment, config: dict, how: str = "the run's broker"):
        self.experiment = experiment
        self.config = config
        self.how = how  # said in every cell's log
        self._shells: dict[str, KeptShell] = {}

    def answer(self, request: bytes) -> bytes:
        """A cell job's request -> the answer (vnetbench.wire): "ok", the cell's log and its
        record's file content; or "failed", the log and the error."""
        asked_at = time.time()
        job_started_at, platform, test, size, rep, measurement, preflight, *image = wire.decode(request)
        this = Cell(platform, test, int(size), int(rep))
        lines = [f"measured by {self.how} (pid {os.getpid()})"]
        try:
            record = self.measure(this, measurement, preflight, image, lines.append)
        except VnetbenchError as error:
            return wire.encode(["failed", "".join(f"{line}\n" for line in lines), str(error)])
        except Exception as error:  # a bug of ours fails the cell, not the broker
            return wire.encode(["failed", "".join(f"{line}\n" for line in lines), f"{error!r}"])
        # When the cell job started and asked: what it cost besides netperf (bench/cell_overhead.py).
        record["job"] = {"started_at": utc_iso(float(job_started_at)), "asked_at": utc_iso(asked_at)}
        lines.append(f"ok: {record['throughput_mbit_s']:.3f} Mbit/s in {record['elapsed_s']} s")
        return wire.encode(["ok", "".join(f"{line}\n" for line in lines), record_bytes(record).decode()])

    def measure(self, this: Cell, measurement: str, preflight: str, image: list[str], log) -> dict:
        """The record of one cell. `measurement`: what Snakemake tracks for it (the repr of its
        params.measurement): the cell runs from it, the config only says how to reach the hosts.
        `preflight`: the run's host facts (results/preflight.json)."""
        tracked = Measurement.from_params(ast.literal_eval(measurement))
        platform = self.experiment.platforms[this.platform]
        shuffled, seed = self.config["run_order"] == "shuffled", self.config["run_order_seed"]
        extra = {
            # Idle CPUs held polling (vnetbench.machine): rates depend on it.
            "cpus_kept_awake": lifecycle.cpus_kept_awake(),
            "run_order": self.config["run_order"],
            "run_order_seed": seed,
            # Its block: the platforms of this (test, size, rep) run back to back, in this order.
            "block": {
                "position": order.block_order(self.experiment, this.rep, shuffled, seed).index(
                    (this.test, this.size_bytes)
                ),
                "platform_order": order.platform_order(
                    self.experiment, this.test, this.size_bytes, this.rep, shuffled, seed
                ),
            },
        }
        if platform.virtual_machine:

            def say(line: str) -> None:  # booting takes seconds: say so on the terminal too
                log(line)
                print(f"vnetbench: {line}", file=sys.stderr, flush=True)

            files = guests.Image(*(Path(path) for path in image))
            state = lifecycle.ensure_guests(self.experiment, files, preflight, self.config["warmup"], say)
            extra["guest"] = guest_facts(state)
        facts = (read_optional_json(preflight) or {}).get("hosts", {})
        shell = self._shells.setdefault(platform.client.name, KeptShell(platform.client))
        here = self.experiment.testbed is not None or (platform.client.is_local and platform.server.is_local)

        def measure(what: Cell, measurement: Measurement, more: dict, amount: int | None = None) -> dict:
            return cell.measure(
                what, platform, measurement, self.experiment.run, log, session=shell,
                on_this_machine=here, hosts_facts=facts, extra=more, amount=amount,
            )  # fmt: skip

        amount = None
        if tracked.run_length is not None:

            def calibration_runs() -> dict:
                runs, first = sizing.calibration_run(tracked), replace(this, rep=0)
                probe = measure(first, runs, {}, sizing.probe_amount(this.test, this.size_bytes))
                amount = sizing.amount(probe, sizing.CALIBRATION_LENGTHS * tracked.run_length)
                return measure(first, runs, {"probe": _probe_facts(probe)}, amount)

            calibration = calibrate(this, tracked, calibration_runs)
            amount, extra["calibration"] = sizing.amount(calibration, tracked.run_length), _facts(calibration)
            log(f"sized runs of {amount} ({extra['calibration']['source']})")
        return measure(this, tracked, extra, amount)

    def close(self) -> None:
        for shell in self._shells.values():
            shell.close()
        self._shells.clear()


def calibrate(this: Cell, tracked: Measurement, run) -> dict:
    """The calibration of a sized cell's configuration (vnetbench.sizing): pinned by the first
    one made. Its file if it is there; else what the configuration's records say of theirs
    (the file was deleted: runs of another size must not join them); else a new one, `run()`,
    written before the cell runs."""
    path = calibration_path(this.platform, this.test, this.size_bytes)
    if os.path.exists(path):
        return read_json(path) | {"source": path}
    folder = os.path.dirname(this.path)
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        finished = name.endswith(".json") and not name.startswith(".")  # not a write under way
        record = read_optional_json(os.path.join(folder, name)) if finished else None
        if record and not is_failed(record) and "calibration" in record:
            pinned = record["calibration"]
            return {**sizing.as_calibration(this.test, this.size_bytes, pinned["rate"]),
                    "started_at": pinned["measured_at"], "source": f"pinned by {folder}/{name}"}  # fmt: skip
    try:
        calibration = run()
    except VnetbenchError as error:
        raise VnetbenchError(
            f"calibrating {this.platform} {this.test} {this.size_bytes} B: {error}"
        ) from None
    write_json_atomic(path, calibration)
    return calibration | {"source": f"new, {path}"}


def _probe_facts(probe: dict) -> dict:
    """What a calibration keeps of its probe."""
    keep = (
        "run",
        "transactions_per_s",
        "throughput_mbit_s",
        "elapsed_s",
        "started_at",
        "command",
        "raw_output",
    )
    return {key: probe[key] for key in keep if key in probe}


def _facts(calibration: dict) -> dict:
    """What a sized cell's record says of its calibration."""
    rate = calibration["transactions_per_s"] or calibration["throughput_mbit_s"]
    return {"rate": rate, "measured_at": calibration["started_at"], "source": calibration["source"]}


class Server:
    """A Broker serving the cell jobs of one working directory, in a thread of this process."""

    def __init__(self, broker: Broker, workdir: str | os.PathLike = "."):
        self.broker = broker
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._socket.bind(wire.socket_name(wire.address(str(workdir))))
        except OSError as error:
            self._socket.close()
            raise BrokerError(
                f"cannot serve the cells of {Path(workdir).resolve()} ({error.strerror}): "
                "is another run of this directory still going?"
            ) from None
        self._socket.listen(8)
        self._thread = threading.Thread(target=self._serve, name="vnetbench-broker", daemon=True)

    def start(self) -> "Server":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed by stop()
            # OSError: the cell job went away (Ctrl-C), there is no one to answer.
            with connection, contextlib.suppress(OSError):
                # Only this user's processes (root may ask anything anyway).
                _, uid, _ = struct.unpack(
                    "3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                )
                if uid in (os.getuid(), 0):
                    connection.sendall(self.broker.answer(wire.receive_all(connection)))

    def stop(self) -> None:
        # shutdown() wakes the accept() of the serving thread; close() alone may not.
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=60)
        self.broker.close()


def _once(snapshot: str) -> int:
    """`python -m vnetbench.broker once SNAPSHOT`: one request on stdin, its answer on stdout,
    measured in this process (no broker reachable)."""
    from .config import experiment_from_validated

    config = json.loads(Path(snapshot).read_text())
    broker = Broker(experiment_from_validated(config), config, "a process of its own: no broker answered")
    try:
        sys.stdout.buffer.write(broker.answer(sys.stdin.buffer.read()))
    finally:
        broker.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "once":
        sys.exit("usage: python -m vnetbench.broker once CONFIG_SNAPSHOT")
    sys.exit(_once(sys.argv[2]))
