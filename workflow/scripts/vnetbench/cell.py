"""One cell from start to record: run netperf on the client against the server.

The hot path is one remote command on the client host. Only when netperf finds no
netserver does the cell reach the server host, start one, and retry.
"""

import os
from dataclasses import asdict, dataclass, field, replace

from . import load, netperf, netserver, sizing
from .errors import VnetbenchError
from .hosts import CommandTimedOut, open_session, shell
from .model import Cell, Measurement, Platform, RunSettings, concurrent
from .records import utc_now

# Seconds the SSH command may outlive the remote `timeout`, so the remote side
# always stops netperf first and reports it.
_SSH_GRACE = 5.0
# How `timeout -s KILL` ends: it kills its whole process group, itself
# included, so a shell reports 137 and a direct parent sees -9.
_KILLED = {124, 137, -9}
_EXTRAS = {"latency_us", "cpu", "send_throughput_mbit_s"}


class CellFailed(VnetbenchError):
    """netperf did not produce the measurement; carries command, exit code and output."""

    def __init__(self, cell: Cell, message: str, command: str = "", exit_code=None, output: str = ""):
        text = f"cell {cell.path}: {message}"
        if command:
            text += f"\n  command: {command}"
        if exit_code is not None:
            text += f"\n  exit code: {exit_code}"
        if output:
            text += f"\n  output:\n{output.rstrip()}"
        super().__init__(text)
        self.command, self.exit_code, self.output = command, exit_code, output


def command(measurement: Measurement, settings: RunSettings, amount: int | None = None) -> list[str]:
    """The cell's remote command: its netperf run (timed, or of `amount` transactions or bytes),
    under a `timeout` that kills it on the host itself (closing an SSH channel would not); for
    several runs, each one so, back to back, each output followed by a line with its exit code."""
    m = measurement
    if concurrent(m.test):
        return load.command(m, settings.timeout_margin)
    argv = netperf.command(
        m.test, m.size_bytes, m.duration, m.server_address, m.netserver_port, m.netperf, m.netperf_options,
        latency=m.latency, cpu=m.cpu, amount=amount, data_port=m.data_port,
    )  # fmt: skip
    one = ["timeout", "-s", "KILL", f"{limit(measurement, settings):g}", *argv]
    return one if m.runs == 1 else shell(_RUNS, str(m.runs), *one)


# Several runs in one remote command (one round trip): stop at the first that fails, and exit
# with its code, as a single run would.
_RUN_END = "vnetbench-run-end"
_RUNS = f"""
runs=$1; shift
i=0
while [ "$i" -lt "$runs" ]; do
  "$@"; code=$?
  echo "{_RUN_END} $code"
  [ "$code" -eq 0 ] || exit "$code"
  i=$((i + 1))
done
"""


def split_runs(output: str, runs: int) -> list[str]:
    """The outputs of a cell's runs (see command)."""
    if runs == 1:
        return [output]
    parts = []
    for chunk in output.split(f"{_RUN_END} ")[:-1]:
        parts.append(chunk.split("\n", 1)[1] if parts else chunk)
    return parts


def limit(measurement: Measurement, settings: RunSettings) -> float:
    """Seconds the run may take before it is killed."""
    if measurement.run_length is not None:
        return sizing.kill_after(measurement.run_length, settings.timeout_margin)
    return int(measurement.duration) + settings.timeout_margin


@dataclass(frozen=True)
class Executed:
    """One remote command of a cell, as it ran: its output and when."""

    command: str
    output: str
    started_at: str
    finished_at: str
    attempts: int
    machine_cpu: tuple[float, float] | None  # (busy, all) CPU seconds of this machine during it
    counters: dict | None = None  # what the path's counters (Entry.counters) moved by during it
    apart: list[dict] = field(default_factory=list)  # attempts whose flows ran apart (load.apart)


@dataclass
class Entry:
    """One cell of an interleaved block (measure_block), ready to run."""

    cell: Cell
    platform: Platform
    measurement: Measurement
    session: object  # an open connection to the client host (hosts.KeptShell)
    amount: int | None = None
    extra: dict | None = None
    log: object = print
    # The path's own evidence (ebpf.counters): {machine: {counter: value}}, read around each run.
    counters: object = None


def measure(
    cell: Cell,
    platform: Platform,
    measurement: Measurement,
    settings: RunSettings,
    log=print,
    session=None,
    on_this_machine: bool = False,
    hosts_facts: dict | None = None,
    extra: dict | None = None,
    amount: int | None = None,
    counters=None,
) -> dict:
    """Run the cell's netperf and return its record (not yet written: that is the cell job's,
    records.write_json_atomic). `session`: an open connection to the client host to run it on;
    by default one is opened and closed. `on_this_machine`: both ends run here (the embedded
    testbed), so a CPU measurement is also taken of the whole machine around the run
    (machine_cpu). `hosts_facts`: the facts of every host (from preflight), of which the
    record keeps its two hosts'; `extra`: more fields for the record. `amount`: a sized run's
    transactions or bytes (measurement.run_length set; vnetbench.sizing). The cell's runs are
    one remote command, back to back."""
    _check(cell, platform, measurement, amount)
    own_session = session is None
    session = session or open_session(platform.client)
    try:
        done = _execute(
            cell, platform, measurement, settings, session, amount, log, on_this_machine, counters
        )
    finally:
        if own_session:
            session.close()
    outputs = split_runs(done.output, measurement.runs)
    return _record(cell, platform, measurement, amount, [done], outputs, hosts_facts, extra)


def measure_block(
    entries: list[Entry],
    settings: RunSettings,
    on_this_machine: bool = False,
    hosts_facts: dict | None = None,
) -> dict[Cell, dict | VnetbenchError]:
    """The cells of one block with their runs interleaved: the first run of each cell in the
    entries' order, then the second run of each in the reverse order, and so on (ABC CBA ...),
    so that paired runs of two platforms are one run apart and a drift during the block
    weighs on every platform alike. Each run is a remote command of its own. A cell whose run
    fails is left out of the later rounds; the others go on. Returns each cell's record, or
    the error of a cell that failed."""
    done: dict[Cell, list[Executed]] = {entry.cell: [] for entry in entries}
    failed: dict[Cell, VnetbenchError] = {}
    for entry in entries:
        try:
            _check(entry.cell, entry.platform, entry.measurement, entry.amount)
        except CellFailed as error:
            failed[entry.cell] = error
    one_run = {entry.cell: replace(entry.measurement, runs=1) for entry in entries}
    for round_ in range(max(entry.measurement.runs for entry in entries)):
        for entry in entries if round_ % 2 == 0 else entries[::-1]:
            if entry.cell in failed or round_ >= entry.measurement.runs:
                continue
            try:
                done[entry.cell].append(
                    _execute(entry.cell, entry.platform, one_run[entry.cell], settings, entry.session,
                             entry.amount, entry.log, on_this_machine, entry.counters)
                )  # fmt: skip
            except VnetbenchError as error:  # netperf failed, or so did starting netserver again
                failed[entry.cell] = error
    outcome: dict[Cell, dict | VnetbenchError] = {}
    for entry in entries:
        if entry.cell in failed:
            outcome[entry.cell] = failed[entry.cell]
            continue
        executed = done[entry.cell]
        try:
            outcome[entry.cell] = _record(
                entry.cell, entry.platform, entry.measurement, entry.amount, executed,
                [run.output for run in executed], hosts_facts, entry.extra,
            )  # fmt: skip
        except CellFailed as error:
            outcome[entry.cell] = error
    return outcome


def _check(cell: Cell, platform: Platform, measurement: Measurement, amount: int | None) -> None:
    if (amount is None) != (measurement.run_length is None):
        raise CellFailed(cell, "a sized run needs its amount, and a timed run none")
    if measurement.client != platform.client.measured_as:
        raise CellFailed(
            cell,
            f"measures client {measurement.client!r}, but the platform's is {platform.client.measured_as!r}",
        )


def _execute(
    cell: Cell,
    platform: Platform,
    measurement: Measurement,
    settings: RunSettings,
    session,
    amount: int | None,
    log,
    on_this_machine: bool,
    counters=None,
) -> Executed:
    """Run the cell's command (its `measurement.runs` runs) on `session`; run again where
    netserver was gone and is started again, or where concurrent flows ran apart (their output
    kept in `apart`). Raises CellFailed unless it exits 0."""
    server = platform.server
    together = concurrent(measurement.test)
    bound = (
        load.bound(measurement, settings.timeout_margin)
        if together
        else limit(measurement, settings) * measurement.runs
    )
    wrapped = command(measurement, settings, amount)
    apart = []
    for attempt in range(settings.retries + 1):
        started_at = utc_now()
        before = machine_cpu_seconds() if measurement.cpu and on_this_machine else None
        counted = counters() if counters else None
        try:
            result = session.run(wrapped, timeout=bound + _SSH_GRACE)
        except CommandTimedOut as error:
            raise CellFailed(cell, f"no answer within {bound + _SSH_GRACE:g} s", error.command) from None
        after = machine_cpu_seconds() if before is not None else None
        finished_at = utc_now()
        log(f"attempt {attempt + 1}: exit {result.exit_code} ({started_at} .. {finished_at})")
        last = attempt == settings.retries
        if together and result.exit_code == 0 and not last:
            why = load.apart(measurement.test, measurement.size_bytes, result.output)
            if why:
                # A flow that started late (its connection queued behind the others' data) left
                # the others alone for part of the window: not the cell's measurement. Measured
                # again at once, in the block's same place; the attempt's output is kept.
                log(f"attempt {attempt + 1}: {why}; measuring again")
                apart.append({"why": why, "started_at": started_at, "finished_at": finished_at,
                              "raw_output": result.output})  # fmt: skip
                continue
        if result.exit_code == 0 or result.exit_code in _KILLED or last:
            break
        # netperf failed: retry only if netserver was gone (and is now restarted). A
        # frozen netserver is alive; its cell fails on the timeout instead.
        log(f"netperf failed; checking netserver at {server.address}:{server.netserver_port}")
        if not _start_netservers(server, log, measurement.probe_priority):
            break
    if result.exit_code in _KILLED:
        raise CellFailed(
            cell,
            f"netperf killed after {limit(measurement, settings):g} s (a run's bound, with timeout_margin)",
            result.command,
            result.exit_code,
            result.output,
        )
    if result.exit_code != 0:
        raise CellFailed(cell, "netperf failed", result.command, result.exit_code, result.output)
    cpu = None if before is None else (after[0] - before[0], after[1] - before[1])
    moved = _moved(counted, counters()) if counters else None
    return Executed(result.command, result.output, started_at, finished_at, attempt + 1, cpu, moved, apart)


def _moved(before: dict, after: dict) -> dict:
    """{machine: {counter: after - before}} (None where a counter could not be read)."""
    return {
        machine: {
            name: None if None in (value, before[machine].get(name)) else value - before[machine][name]
            for name, value in values.items()
        }
        for machine, values in after.items()
    }


def _record(
    cell: Cell,
    platform: Platform,
    measurement: Measurement,
    amount: int | None,
    executed: list[Executed],
    outputs: list[str],
    hosts_facts: dict | None,
    extra: dict | None,
) -> dict:
    """A cell's record from its commands (one for all its runs, or one per run) and the
    outputs of its runs."""
    command_text = executed[0].command
    # One text with every run's output, as one command of several runs prints it (split_runs).
    raw = executed[0].output if len(executed) == 1 else "".join(f"{o}{_RUN_END} 0\n" for o in outputs)
    kept = {}  # what a cell of concurrent netperfs keeps besides (vnetbench.load)
    try:
        if len(outputs) != measurement.runs:
            raise netperf.NetperfOutputError(f"{len(outputs)} runs, not {measurement.runs}", raw)
        if concurrent(cell.test):
            result, kept = load.parse(cell.test, cell.size_bytes, outputs[0])
            results = [result]
        else:
            results = [
                netperf.parse_result(cell.test, cell.size_bytes, output, measurement.latency, measurement.cpu)
                for output in outputs
            ]
    except netperf.NetperfOutputError as error:
        raise CellFailed(cell, str(error).splitlines()[0], command_text, 0, raw) from None
    parsed = netperf.combine(results)

    # The extra metrics appear only when asked for: records keep their shape otherwise.
    measured = {
        key: value for key, value in asdict(parsed).items() if value is not None or key not in _EXTRAS
    }
    cpus = [run.machine_cpu for run in executed if run.machine_cpu is not None]
    if cpus and (parsed.transactions or parsed.bytes_received):
        busy, window = sum(c[0] for c in cpus), sum(c[1] for c in cpus)
        # Per transaction (request/response), else CPU seconds per gigabit moved (bulk: the
        # CPUs kept busy by each Gbit/s).
        per = (
            {"us_per_transaction": busy * 1e6 / parsed.transactions}
            if parsed.transactions
            else {"s_per_gbit": busy / (parsed.bytes_received * 8 / 1e9)}
        )
        measured["machine_cpu"] = {
            "busy_s": round(busy, 3),
            "all_cpus_s": round(window, 3),  # the CPU time all CPUs had during the run
            **per,
            "source": "/proc/stat of the machine, around the run (netperf's set-up and tear-down included)",
        }
    moved = [run.counters for run in executed if run.counters is not None]
    if moved:
        measured["path_counters"] = {
            machine: {name: _sum(run[machine][name] for run in moved) for name in values}
            for machine, values in moved[0].items()
        } | {"source": "each machine's /proc/net (dev, snmp), around each run, netperf's control included"}
    server = platform.server
    record = {
        **asdict(cell),
        **measured,
        "started_at": executed[0].started_at,
        "finished_at": executed[-1].finished_at,
        "attempts": max(run.attempts for run in executed),
        "duration_s": int(measurement.duration) if amount is None else None,
        # A sized run: its transactions (request/response) or bytes (bulk); the rate is measured.
        "run": {"kind": "timed", "seconds": int(measurement.duration)}
        if amount is None
        else {
            "kind": "sized",
            "amount": amount,
            "target_s": measurement.run_length,
            "runs": measurement.runs,
        },
        "client": platform.client.target,
        "server": server.target,
        "server_address": server.address,
        "command": command_text,
        "raw_output": raw,
    }
    apart = [attempt for run in executed for attempt in run.apart]
    if apart:
        record["attempts_apart"] = apart
    if measurement.runs > 1:
        # Each run's own figures and output; the cell's are their mean (netperf.combine). Runs
        # of their own command (an interleaved block) also say when they ran.
        record["runs"] = [
            {**_figures(run), "raw_output": output} for run, output in zip(results, outputs, strict=True)
        ]
        if len(executed) == len(outputs):
            for run, done in zip(record["runs"], executed, strict=True):
                run["started_at"], run["finished_at"] = done.started_at, done.finished_at
    if hosts_facts is not None:
        record["client_facts"] = hosts_facts.get(platform.client.name, {})
        record["server_facts"] = hosts_facts.get(server.name, {})
    return record | kept | (extra or {})


def _figures(run: netperf.NetperfResult) -> dict:
    """What a record keeps of one of its cell's runs."""
    skip = {"test", "size_bytes"}
    return {key: value for key, value in asdict(run).items() if value is not None and key not in skip}


def _sum(values) -> int | None:
    values = list(values)
    return None if None in values else sum(values)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of this machine so far, over all its CPUs, from /proc/stat:
    busy is all but idle and iowait."""
    with open("/proc/stat") as stream:
        fields = [int(value) for value in stream.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest time is in user)
    return (total - fields[3] - fields[4]) / ticks, total / ticks


def _start_netservers(server, log, probe_priority: int | None) -> bool:
    """Start netserver on the server host unless it runs, and the probes' real-time one where the
    cell has probes at a priority; whether any was started (else both were running). A HostError
    (unreachable, refused, could not start) fails the cell and names the host."""
    session = open_session(server)
    try:
        outcomes = [netserver.ensure(session, server)]
        if probe_priority is not None:
            outcomes.append(netserver.ensure(session, server.probes_netserver(), priority=probe_priority))
    finally:
        session.close()
    log("; ".join(outcomes))
    return any(outcome.startswith("started") for outcome in outcomes)
