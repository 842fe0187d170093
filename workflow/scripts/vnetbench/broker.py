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

from . import cell, guests, lifecycle, order, precision, sizing, wire
from .errors import VnetbenchError
from .hosts import KeptShell
from .model import Cell, Experiment, Measurement, calibration_path, pending_path
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
        self._answered: list[Cell] = []  # cells answered from results/pending
        self._shuffled, self._seed = config["run_order"] == "shuffled", config["run_order_seed"]
        self._plans: tuple[tuple, list[dict]] = ((), [])  # (the plan files' times, their added blocks)
        self._facts: tuple[tuple, dict] = ((), {})  # ((preflight path, its time), the hosts' facts)

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
        `preflight`: the run's host facts (results/preflight.json). With interleave_runs, the
        cell is measured with the cells of its block that are still to measure (measure_block),
        or was measured so already (results/pending)."""
        tracked = Measurement.from_params(ast.literal_eval(measurement))
        waiting = self._pending(this, tracked, log)
        if waiting is not None:
            return waiting
        entry = self._entry(this, tracked, preflight, image, log)
        facts = self._hosts_facts(preflight)  # after _entry: a guest that booted adds its own
        mates = self._block_mates(this) if self._interleaves(this) else []
        if not mates:
            return cell.measure(
                this, entry.platform, tracked, self.experiment.run, log, session=entry.session,
                on_this_machine=self._here(entry.platform), hosts_facts=facts, extra=entry.extra,
                amount=entry.amount,
            )  # fmt: skip
        return self._measure_block(this, entry, mates, preflight, facts)

    def _entry(self, this: Cell, tracked: Measurement, preflight: str, image: list[str], log) -> cell.Entry:
        """A cell ready to run: its platform's kept shell, its calibrated amount (calibrating its
        configuration first if need be) and the facts its record adds."""
        platform = self.experiment.platforms[this.platform]
        extra = {
            # Idle CPUs held polling (vnetbench.machine): rates depend on it.
            "cpus_kept_awake": lifecycle.cpus_kept_awake(),
            "run_order": self.config["run_order"],
            "run_order_seed": self._seed,
            # Its block: the platforms of this (test, size, rep) run back to back, in this order.
            "block": {
                "position": order.block_order(self.experiment, this.rep, self._shuffled, self._seed).index(
                    (this.test, this.size_bytes)
                ),
                "platform_order": self._platform_order(this),
            },
        }
        if platform.virtual_machine:

            def say(line: str) -> None:  # booting takes seconds: say so on the terminal too
                log(line)
                print(f"vnetbench: {line}", file=sys.stderr, flush=True)

            files = guests.Image(*(Path(path) for path in image))
            state = lifecycle.ensure_guests(self.experiment, files, preflight, self.config["warmup"], say)
            extra["guest"] = guest_facts(state)
        facts = self._hosts_facts(preflight)
        shell = self._shells.setdefault(platform.client.name, KeptShell(platform.client))
        amount = None
        if tracked.run_length is not None:

            def measure(first: Cell, runs: Measurement, more: dict, amount: int) -> dict:
                return cell.measure(
                    first, platform, runs, self.experiment.run, log, session=shell,
                    on_this_machine=self._here(platform), hosts_facts=facts, extra=more, amount=amount,
                )  # fmt: skip

            def calibration_runs() -> dict:
                runs, first = sizing.calibration_run(tracked), replace(this, rep=0)
                probe = measure(first, runs, {}, sizing.probe_amount(this.test, this.size_bytes))
                amount = sizing.amount(probe, sizing.CALIBRATION_LENGTHS * tracked.run_length)
                return measure(first, runs, {"probe": _probe_facts(probe)}, amount)

            calibration = calibrate(this, tracked, calibration_runs)
            amount, extra["calibration"] = sizing.amount(calibration, tracked.run_length), _facts(calibration)
            log(f"sized runs of {amount} ({extra['calibration']['source']})")
        return cell.Entry(this, platform, tracked, shell, amount, extra, log)

    def _here(self, platform) -> bool:
        return self.experiment.testbed is not None or (platform.client.is_local and platform.server.is_local)

    def _interleaves(self, this: Cell) -> bool:
        return self.config["interleave_runs"] and not self.experiment.platforms[this.platform].virtual_machine

    def _block_mates(self, this: Cell) -> list[Cell]:
        """The other cells of this cell's block that the plan has and that are still to measure
        (no record yet), in the block's platform order; never a virtual machine's (its guests
        boot in a cell's own request)."""
        planned = self.experiment.block_platforms(this.test, this.size_bytes, this.rep, self._added_blocks())
        mates = [replace(this, platform=name) for name in self._platform_order(this) if name in planned]
        return [
            mate
            for mate in mates
            if mate != this and self._interleaves(mate) and not os.path.exists(mate.path)
        ]

    def _hosts_facts(self, preflight: str) -> dict:
        """The facts of every host (results/preflight.json), of which a record keeps its two
        hosts': read again only when the file changed (a guest booted), not at every cell."""
        stamp = os.stat(preflight).st_mtime_ns if os.path.exists(preflight) else None
        if self._facts[0] != (preflight, stamp):
            self._facts = ((preflight, stamp), (read_optional_json(preflight) or {}).get("hosts", {}))
        return self._facts[1]

    def _platform_order(self, this: Cell) -> list[str]:
        return order.platform_order(
            self.experiment, this.test, this.size_bytes, this.rep, self._shuffled, self._seed
        )

    def _added_blocks(self) -> list[dict]:
        """The blocks the precision rounds added so far (results/precision), read again only
        when a round's plan was written or rewritten, not at every block."""
        stamps = tuple(
            path.stat().st_mtime_ns for path in sorted(Path("results/precision").glob("round*.json"))
        )
        if self._plans[0] != stamps:
            self._plans = (stamps, [block for plan in precision.read_plans() for block in plan["add"]])
        return self._plans[1]

    def _measure_block(
        self, this: Cell, entry: cell.Entry, mates: list[Cell], preflight: str, facts: dict
    ) -> dict:
        """Measure `this` with its block's `mates`, runs interleaved; the mates' records wait in
        results/pending until their cell jobs ask. A mate that cannot even be prepared (its
        calibration failed) is left to its own job."""
        entries, logs = {this: entry}, {}
        for mate in mates:
            lines = logs.setdefault(mate, [])
            tracked = self.experiment.measurement(mate.platform, mate.test, mate.size_bytes)
            try:
                entries[mate] = self._entry(mate, tracked, preflight, [], lines.append)
            except VnetbenchError as error:
                _forget_pending(mate)
                entry.log(f"{mate.platform} left to its own cell job: {error}")
        within = entry.extra["block"]["platform_order"]
        ordered = [entries[c] for c in sorted(entries, key=lambda c: within.index(c.platform))]
        sequence = [e.cell.platform for e in ordered]
        for e in ordered:
            e.extra["block"]["interleaved"] = {"platforms": sequence, "asked_by": this.path}
        entry.log(f"measured with its block: runs of {', '.join(sequence)} interleaved")
        outcome = cell.measure_block(ordered, self.experiment.run, self._here(entry.platform), facts)
        for mate in mates:
            result = outcome.get(mate)
            if isinstance(result, dict):
                waiting = {
                    "measurement": entries[mate].measurement.as_params(),
                    "log": logs[mate],
                    "record": result,
                }
                write_json_atomic(pending_path(mate), waiting)
            elif result is not None:
                _forget_pending(mate)
                entry.log(
                    f"{mate.platform} failed in the block; its own cell job measures it again: {result}"
                )
        result = outcome[this]
        if isinstance(result, VnetbenchError):
            raise result
        return result

    def _pending(self, this: Cell, tracked: Measurement, log) -> dict | None:
        """This cell's record if its block measured it before its job asked, for what the cell
        measures now."""
        path = pending_path(this)
        waiting = read_optional_json(path)
        if waiting is None:
            return None
        if Measurement.from_params(waiting["measurement"]) != tracked:
            # The config no longer asks for what it measured: this cell is measured anew.
            os.remove(path)
            log(f"dropped {path}: it measured what the config no longer asks")
            return None
        log(f"measured with its block, asked by {waiting['record']['block']['interleaved']['asked_by']}")
        for line in waiting["log"]:
            log(line)
        self._answered.append(this)
        return waiting["record"]

    def close(self) -> None:
        for shell in self._shells.values():
            shell.close()
        self._shells.clear()
        # A waiting record goes once its cell's own record is written; until then it is the
        # only copy of that measurement.
        for answered in self._answered:
            if os.path.exists(answered.path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(pending_path(answered))
                # Its folders too, once empty: up to results/pending itself.
                folder = os.path.dirname(pending_path(answered))
                with contextlib.suppress(OSError):
                    while folder != "results":
                        os.rmdir(folder)
                        folder = os.path.dirname(folder)
        self._answered.clear()


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


def _forget_pending(mate: Cell) -> None:
    """Remove an older waiting record of a block mate that its own job will measure: it would
    pair with runs it was not measured with."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(pending_path(mate))


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
