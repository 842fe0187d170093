"""The run's measuring service: measures a block (or a cell of its own) for its job.

A block job is a small client (`workflow/scripts/block_client.py`) that sends the block's
measurements, as the rule tracks them, to the service over a Unix socket (vnetbench.wire), once,
and writes the records it gets back. The service keeps one shell open per client host
(hosts.KeptShell, over Fabric with strict host keys), so a block pays neither Python's heavy
imports nor a new SSH connection. It lives in the Snakemake process that runs the workflow, as
a thread started by the onstart hook after the testbed and preflight and stopped with them:
nothing of it outlives the run, even a kill -9.

Where no service answers (a cluster node), the client runs `python -m vnetbench.broker once`,
which measures the block in a process of its own with the same code.

A block's cells whose records measure what the block asks are kept as they are (a record is
never measured twice); when any other record is there (what a cell measures changed, or it
failed), the whole block is measured anew, as a paired ratio needs, and the old records are
moved to results/replaced/ first: nothing measured is ever deleted.
"""

import contextlib
import json
import os
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

from . import cell, guests, lifecycle, order, sizing, testbed, wire
from .blocks import PREFLIGHT
from .errors import VnetbenchError
from .hosts import KeptShell
from .model import Cell, Experiment, Measurement, calibration_path
from .records import (
    CellRecord,
    RecordError,
    failed_record,
    guest_facts,
    load,
    read_json,
    read_optional_json,
    record_of,
    replace_cell,
    replacement_stamp,
    utc_iso,
    write_json_atomic,
)


class BrokerError(VnetbenchError):
    """The service could not start."""


class PlatformUnavailable(VnetbenchError):
    """The platform's path could not be built on this machine (what it lacks, in one line)."""


class Broker:
    """Measures the blocks and cells of one experiment; see the module docstring."""

    def __init__(self, experiment: Experiment, how: str = "the run's service", preflight: str = PREFLIGHT):
        self.experiment = experiment
        self.how = how  # said in every cell's log
        self.preflight = preflight  # the run's host facts (results/preflight.json)
        self._shells: dict[str, KeptShell] = {}
        self._facts: tuple[int | None, dict] | None = None  # (preflight's time, the hosts' facts)
        self._counters: dict[str, object] = {}  # each platform's path counters (testbed.path_counters)

    def answer(self, request: bytes) -> bytes:
        """A job's request (vnetbench.wire: when the job started, the measurements the rule
        tracks as JSON, the number of records, their paths, the guest image's files) -> for
        each record, in order: "ok", "kept" or "failed", the cell's log, and the file's
        content to write ("" when kept)."""
        asked_at = time.time()
        job_started_at, measurements, count, *paths = wire.decode(request)
        outputs, image = paths[: int(count)], paths[int(count) :]
        cells = [Cell.from_path(path) for path in outputs]
        asked = json.loads(measurements)
        logs: dict[Cell, list[str]] = {c: [f"measured by {self.how} (pid {os.getpid()})"] for c in cells}
        try:
            outcome = self.measure(cells, asked, image, logs)
        except Exception as error:  # a bug of ours fails the block, not the service
            text = str(error) if isinstance(error, VnetbenchError) else repr(error)
            outcome = {c: _failed(c, asked.get(c.platform), text, logs[c]) for c in cells}
        job = {"started_at": utc_iso(float(job_started_at)), "asked_at": utc_iso(asked_at)}
        fields = []
        for this in cells:
            result, lines = outcome[this], logs[this]
            if result is None:
                fields += ["kept", _text(lines + ["kept: its record measures what the block asks"]), ""]
            elif result.measured:
                # When the job started and asked: what it cost besides netperf (bench/cell_overhead.py).
                record = replace(result, fields=result.fields | {"job": job})
                rate, seconds = record.fields["throughput_mbit_s"], record.fields["elapsed_s"]
                lines.append(f"ok: {rate:.3f} Mbit/s in {seconds} s")
                fields += ["ok", _text(lines), record.to_bytes().decode()]
            else:
                fields += ["failed", _text(lines), result.to_bytes().decode()]
        return wire.encode(fields)

    def measure(
        self, cells: list[Cell], asked: dict, image: list[str], logs: dict[Cell, list[str]]
    ) -> dict[Cell, CellRecord | None]:
        """Each cell's new record, or None where its record is kept (see the module docstring)."""
        tracked = {c: Measurement.from_params(asked[c.platform]) for c in cells}
        kept = {c: _current(c, asked[c.platform]) for c in cells}
        if any(record is False for record in kept.values()):  # another measurement is there
            stamp = replacement_stamp()
            for this in cells:
                replace_cell(this, logs[this].append, stamp)
            kept = dict.fromkeys(cells)
        within = order.platform_order(self.experiment, cells[0].test, cells[0].size_bytes, cells[0].rep)
        todo = sorted((c for c in cells if kept[c] is None), key=lambda c: within.index(c.platform))
        outcome: dict[Cell, CellRecord | None] = {c: None for c in cells}
        entries = []
        for this in todo:
            try:
                entries.append(self._entry(this, tracked[this], image, logs[this].append))
            except VnetbenchError as error:
                outcome[this] = _failed(this, asked[this.platform], str(error), logs[this])
        if not entries:
            return outcome
        facts = self._hosts_facts()  # after _entry: a guest that booted adds its own
        here = self._here(entries[0].platform)
        if len(entries) == 1:
            # Nothing to interleave with: its runs in one remote command, one round trip.
            (entry,) = entries
            try:
                measured = cell.measure(
                    entry.cell, entry.platform, entry.measurement, self.experiment.run, entry.log,
                    session=entry.session, on_this_machine=here, hosts_facts=facts, extra=entry.extra,
                    amount=entry.amount,
                )  # fmt: skip
            except VnetbenchError as error:
                measured = error
            results = {entry.cell: measured}
        else:
            sequence = [e.cell.platform for e in entries]
            for e in entries:
                e.extra["block"]["interleaved"] = {"platforms": sequence}
                e.log(f"measured with its block: runs of {', '.join(sequence)} interleaved")
            results = cell.measure_block(entries, self.experiment.run, here, facts)
        for this, result in results.items():
            if isinstance(result, VnetbenchError):
                outcome[this] = _failed(this, asked[this.platform], str(result), logs[this])
            else:
                outcome[this] = record_of(result, this.path).upgraded(asked[this.platform])
        return outcome

    def _entry(self, this: Cell, tracked: Measurement, image: list[str], log) -> cell.Entry:
        """A cell ready to run: its platform's kept shell, its calibrated amount (calibrating its
        configuration first if need be) and the facts its record adds."""
        platform = self.experiment.platforms[this.platform]
        bed = self.experiment.testbed
        unavailable = bed.unavailable if bed else {}
        if platform.embedded in unavailable:  # left out of the testbed (lifecycle said so at its start)
            lacks = unavailable[platform.embedded]
            raise PlatformUnavailable(f"platform {this.platform} was not built on this machine: {lacks}")
        run_order = self.experiment.order
        extra = {
            # Idle CPUs held polling (vnetbench.machine): rates depend on it.
            "cpus_kept_awake": lifecycle.cpus_kept_awake(),
            "run_order": "shuffled" if run_order.shuffled else "rep_major",
            "run_order_seed": run_order.seed,
            # Its block: the platforms of this (test, size, rep), and their order.
            "block": {
                "position": order.block_order(self.experiment, this.rep).index((this.test, this.size_bytes)),
                "platform_order": order.platform_order(self.experiment, this.test, this.size_bytes, this.rep),
            },
        }
        if platform.virtual_machine:

            def say(line: str) -> None:  # booting takes seconds: say so on the terminal too
                log(line)
                print(f"vnetbench: {line}", file=sys.stderr, flush=True)

            files = guests.Image(*(Path(path) for path in image))
            state = lifecycle.ensure_guests(self.experiment, files, self.preflight, say)
            extra["guest"] = guest_facts(state)
        shell = self._shells.setdefault(platform.client.name, KeptShell(platform.client))
        amount = None
        if tracked.run_length is not None:
            facts = self._hosts_facts()

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
        if platform.name not in self._counters:  # read once per run, not at every cell
            self._counters[platform.name] = testbed.path_counters(bed, platform.embedded) if bed else None
        return cell.Entry(this, platform, tracked, shell, amount, extra, log, self._counters[platform.name])

    def _here(self, platform) -> bool:
        return self.experiment.testbed is not None or (platform.client.is_local and platform.server.is_local)

    def _hosts_facts(self) -> dict:
        """The facts of every host (results/preflight.json), of which a record keeps its two
        hosts': read again only when the file changed (a guest booted), not at every block."""
        path = self.preflight
        stamp = os.stat(path).st_mtime_ns if os.path.exists(path) else None
        if self._facts is None or self._facts[0] != stamp:
            self._facts = (stamp, (read_optional_json(path) or {}).get("hosts", {}))
        return self._facts[1]

    def close(self) -> None:
        for shell in self._shells.values():
            shell.close()
        self._shells.clear()


def _failed(this: Cell, asked: dict | None, error: str, log: list[str]) -> CellRecord:
    """A failed cell's record (its error's first line); its log gets the whole evidence."""
    log.append(f"FAILED: {error}")
    return failed_record(this, asked, error, this.log_path)


def _text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _current(this: Cell, asked: dict) -> CellRecord | None | bool:
    """The cell's record if it measured what is asked; None if it has none; False if another
    record is there (another measurement, a failed cell, or a record of schema 1 that
    `python -m vnetbench prepare` did not upgrade)."""
    if not os.path.exists(this.path):
        return None
    try:
        record = load(this.path)
    except RecordError:
        return False
    return record if record.measured and record.measurement == asked else False


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
        if not name.endswith(".json") or name.startswith("."):  # not a write under way
            continue
        with contextlib.suppress(RecordError, OSError):
            record = load(os.path.join(folder, name))
            if record.measured and "calibration" in record.fields:
                pinned = record.fields["calibration"]
                return sizing.as_calibration(this.test, this.size_bytes, pinned["rate"]) | {
                    "started_at": pinned["measured_at"],
                    "source": f"pinned by {folder}/{name}",
                }
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
    """A Broker serving the jobs of one working directory, in a thread of this process."""

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
            # OSError: the job went away (Ctrl-C), there is no one to answer.
            with connection, contextlib.suppress(OSError):
                # Only this user's processes (root may ask anything anyway).
                _, uid, _ = struct.unpack(
                    "3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                )
                if uid in (os.getuid(), 0):
                    try:
                        connection.sendall(self.broker.answer(wire.receive_all(connection)))
                    except Exception:  # noqa: BLE001  a bug of ours fails this job, not the service
                        # Closing without an answer fails the job (its client names the broken
                        # answer); the thread goes on serving the next blocks, which would
                        # otherwise wait for an answer forever.
                        traceback.print_exc()

    def stop(self) -> None:
        # shutdown() wakes the accept() of the serving thread; close() alone may not.
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=60)
        self.broker.close()


def _once(snapshot: str) -> int:
    """`python -m vnetbench.broker once SNAPSHOT`: one request on stdin, its answer on stdout,
    measured in this process (no service reachable)."""
    from .config import experiment_from_validated

    config = json.loads(Path(snapshot).read_text())
    broker = Broker(experiment_from_validated(config), "a process of its own: no service answered")
    try:
        sys.stdout.buffer.write(broker.answer(sys.stdin.buffer.read()))
    finally:
        broker.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "once":
        sys.exit("usage: python -m vnetbench.broker once CONFIG_SNAPSHOT")
    sys.exit(_once(sys.argv[2]))
