"""The run's broker: measures cells for the cell jobs, over connections that outlive a cell.

A cell job is a small client (`workflow/scripts/cell_client.py`, standard library only) that
sends its cell to the broker over a Unix socket and writes the record it gets back. The
broker keeps one shell open per client host (hosts.KeptShell, over Fabric with strict host
keys), so a cell pays neither Python's heavy imports nor a new SSH connection. It lives in the
Snakemake process that runs the workflow, as a thread started by the onstart hook after the
testbed and preflight and stopped with them: nothing of it outlives the run, even a kill -9.

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
from pathlib import Path

from . import cell, guests, lifecycle, wire
from .errors import VnetbenchError
from .hosts import KeptShell
from .model import Cell, Experiment, Measurement
from .records import guest_facts, read_optional_json


class BrokerError(VnetbenchError):
    """The broker could not start."""


class Broker:
    """Measures cells of one experiment; see the module docstring."""

    def __init__(self, experiment: Experiment, config: dict, how: str = "the run's broker"):
        self.experiment = experiment
        self.config = config
        self.how = how  # said in every cell's log
        self._shells: dict[str, KeptShell] = {}

    def measure(self, request: dict) -> dict:
        """One cell's answer: {"ok": True, "record": ...} or {"ok": False, "error": ...}, with the
        cell's log lines either way."""
        lines: list[str] = [f"measured by {self.how} (pid {os.getpid()})"]
        try:
            record = self._measure(request, lines.append)
        except VnetbenchError as error:
            return {"ok": False, "error": str(error), "log": lines}
        return {"ok": True, "record": record, "log": lines}

    def _measure(self, request: dict, log) -> dict:
        this = Cell(**request["cell"])
        # What the cell measures is what Snakemake tracks for it; the config only says how
        # to reach the hosts.
        measurement = Measurement.from_params(ast.literal_eval(request["measurement"]))
        platform = self.experiment.platforms[this.platform]
        preflight = request["preflight"]  # the run's host facts (results/preflight.json)
        extra = {"run_order": self.config["run_order"], "run_order_seed": self.config["run_order_seed"]}
        if platform.virtual_machine:
            image = guests.Image(*(Path(path) for path in request["image"]))

            def say(line: str) -> None:  # booting takes seconds: say so on the terminal too
                log(line)
                print(f"vnetbench: {line}", file=sys.stderr, flush=True)

            state = lifecycle.ensure_guests(self.experiment, image, preflight, self.config["warmup"], say)
            extra["guest"] = guest_facts(state)
        facts = (read_optional_json(preflight) or {}).get("hosts", {})
        shell = self._shells.setdefault(platform.client.name, KeptShell(platform.client))
        return cell.run(this, platform, measurement, self.experiment.run, facts, log, extra, session=shell)

    def close(self) -> None:
        for shell in self._shells.values():
            shell.close()
        self._shells.clear()


class Server:
    """A Broker serving the cell jobs of one working directory, in a thread of this process."""

    def __init__(self, broker: Broker, workdir: str | os.PathLike = "."):
        self.broker = broker
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._socket.bind(wire.address(workdir))
        except OSError as error:
            self._socket.close()
            raise BrokerError(
                f"cannot serve the cells of {Path(workdir).resolve()} ({error.strerror}): "
                "is another run of this directory still going?"
            ) from None
        self._socket.listen(8)
        self._thread = threading.Thread(target=self._serve, name="vnetbench-broker", daemon=True)
        self._stopping = False

    def start(self) -> "Server":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stopping:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed by stop()
            # OSError: the cell job went away (Ctrl-C), there is no one to answer.
            with connection, contextlib.suppress(OSError):
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        # Only this user's processes (root may ask anything anyway).
        _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid not in (os.getuid(), 0):
            return
        request = wire.receive(connection)
        if request is not None:
            wire.send(connection, self.broker.measure(request))

    def stop(self) -> None:
        self._stopping = True
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
        answer = broker.measure(json.loads(sys.stdin.read()))
    finally:
        broker.close()
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "once":
        sys.exit("usage: python -m vnetbench.broker once CONFIG_SNAPSHOT")
    sys.exit(_once(sys.argv[2]))
