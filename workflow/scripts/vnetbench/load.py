"""Cells of several concurrent netperfs: parallel flows ("TCP_STREAMx4") and latency under load
("RRULx4"). Pure functions of text, as vnetbench.netperf; the cell runs the command.

A cell is one remote command that runs its netperfs in phases: within a phase every job starts
at once in the background, and the next phase starts when all have ended.
- Parallel flows: one phase of N flows of the test, started together.
- RRUL (after Flent's "realtime response under load"): first the idle phases, a TCP_RR and then
  a UDP_RR probe of the cell's size on the idle path; then the load phase, N TCP_STREAM flows up
  (client to server) and N TCP_MAERTS flows down, started together with the same two probes;
  all connect at once, the flows start CONNECT_S later, the TCP probe WARMUP_S after them and
  the UDP probe when the TCP one ends (netperf -s). The flows run WARMUP_S longer than the
  probes on both sides, so that the probes measure a path that is loaded throughout. The probes
  run at real-time priority at both ends where the experiment says so (probe_priority): else
  what they time is mostly their wait for a CPU behind the flows' processes (README "Under
  load").
Every netperf reports interim results (demo mode, -D): the record keeps each job's time series.
Unless the flows covered the probes' window (RRUL) or ran together (parallel flows), the cell
measures again at once (vnetbench.cell; the attempt's output kept in its record), and fails, with
each job's window as evidence, when its last attempt did not either.
"""

import math
from dataclasses import dataclass, replace

from . import netperf
from .model import Measurement, split_test

WARMUP_S = 1  # whole seconds: netperf's -l
CONNECT_S = 1  # seconds the load phase's jobs have to connect before any of them starts (-s)
FLOW_STEP_S = 0.2  # flows' interim results, as Flent samples them
PROBE_STEP_S = 0.05  # probes' interim results: the samples of the latency CDF
# Parallel flows must have run together for this share of the shortest flow's time.
OVERLAP = 0.9
# A probe whose last transaction completed this long before its run's end had stopped.
STALL_S = 0.25
_JOB_END = "vnetbench-job"

_PHASES = r"""
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
phase= pids= names=
while [ $# -gt 0 ]; do
  if [ "$1" != "$phase" ]; then
    for pid in $pids; do wait "$pid"; done
    pids=
  fi
  phase=$1 name=$2 n=$3; shift 3
  (
    i=0
    for a do shift; [ "$i" -lt "$n" ] && set -- "$@" "$a"; i=$((i + 1)); done
    "$@" >"$dir/$name.out" 2>&1
    code=$?
    echo "$code $(date +%s.%N)" >"$dir/$name.code"
  ) &
  pids="$pids $!"
  names="$names $name"
  shift "$n"
done
for pid in $pids; do wait "$pid"; done
status=0
for name in $names; do
  code=255 ended=
  [ -f "$dir/$name.code" ] && read -r code ended <"$dir/$name.code"
  echo "vnetbench-job $name $code $ended"
  cat "$dir/$name.out" 2>/dev/null
  [ "$status" -ne 0 ] || status=$code
done
exit "$status"
"""

_PROBE_KEYS = ("TRANSACTION_RATE", "THROUGHPUT_UNITS", "PROTOCOL", "DIRECTION", "REQUEST_SIZE",
               "RESPONSE_SIZE", "ELAPSED_TIME", "LOCAL_BYTES_RECVD", "P50_LATENCY", "P90_LATENCY",
               "P99_LATENCY", "MEAN_LATENCY")  # fmt: skip
_FLOW_KEYS = ("THROUGHPUT", "THROUGHPUT_UNITS", "PROTOCOL", "DIRECTION", "ELAPSED_TIME",
              "LOCAL_BYTES_RECVD", "REMOTE_BYTES_RECVD", "TRANSACTION_RATE", "REQUEST_SIZE",
              "RESPONSE_SIZE")  # fmt: skip
_FLOW_DIRECTION = {"TCP_STREAM": "Send", "TCP_MAERTS": "Receive", "TCP_RR": "Send|Recv"}


class FlowsApart(netperf.NetperfOutputError):
    """The cell's jobs ran, but its flows did not run together (parallel flows) or did not cover
    the probes' window (RRUL): what it measured is not the cell's. The cell measures again."""


def apart(test: str, size_bytes: int, output: str) -> str | None:
    """Why the flows of a cell's output did not run together, or None (also where the output
    fails for another reason: the cell's record says that one)."""
    try:
        parse(test, size_bytes, output)
    except FlowsApart as error:
        return str(error).splitlines()[0]
    except netperf.NetperfOutputError:
        pass
    return None


@dataclass(frozen=True)
class Job:
    phase: str
    name: str
    test: str  # the netperf test it runs
    argv: tuple[str, ...]
    seconds: int  # how long it runs: its netperf's -l, and -s where it waits


def jobs(measurement: Measurement) -> list[Job]:
    """The netperfs of a cell, in the order they start."""
    m = measurement
    base, flows = split_test(m.test)
    seconds = int(m.duration)

    def job(phase, name, test, length, step, port, sized=True, wait=0, probe=False) -> Job:
        argv = _netperf(m, test, length, step, port, sized, wait, probe)
        return Job(phase, name, test, argv, wait + length)

    if base != "RRUL":
        return [job("flows", f"flow{i + 1}", base, seconds, FLOW_STEP_S, i) for i in range(flows)]
    # Each job its own data port (where NAT publishes a range): flows 0 .. 2N-1, probes 2N, 2N+1.
    probes = [("tcp", "TCP_RR", 2 * flows), ("udp", "UDP_RR", 2 * flows + 1)]
    # Probes in turn, each alone on the path: side by side (and bound to CPUs) the two fell into
    # lockstep, the UDP probe's latency the TCP one's to 0.3% in every cell, measuring each other.
    loaded = len(probes) * seconds + 2 * WARMUP_S
    # A TCP_MAERTS server sends for -l seconds from the set-up, the wait included (seen: its
    # receiver measured 2 s of a 3-s run after -s 1): its -l covers the wait.
    directions = [("up", "TCP_STREAM", 0, loaded), ("down", "TCP_MAERTS", flows, CONNECT_S + loaded)]
    # Every job of the load phase connects at once and tests after a wait (-s): the flows
    # CONNECT_S later, the probes WARMUP_S after them. Connecting through a path that other
    # flows already fill took wireguard-go's flows over a second (they started late).
    return (
        [job(f"idle_{name}", f"idle_{name}", test, seconds, PROBE_STEP_S, port, probe=True)
         for name, test, port in probes]
        + [job("load", f"{way}{i + 1}", test, length, FLOW_STEP_S, first + i, False, CONNECT_S)
           for way, test, first, length in directions for i in range(flows)]
        + [job("load", f"probe_{name}", test, seconds, PROBE_STEP_S, port,
               wait=CONNECT_S + WARMUP_S + turn * seconds, probe=True)
           for turn, (name, test, port) in enumerate(probes)]
    )  # fmt: skip


def concurrent_netperfs(test: str) -> int:
    """The most netperfs a cell of `test` runs at once (each with its own data connection)."""
    base, flows = split_test(test)
    return 2 * flows + 2 if base == "RRUL" else flows


def command(measurement: Measurement, kill_after: float) -> list[str]:
    """The cell's remote command: its jobs, each under a `timeout` of its own length plus
    `kill_after` seconds, in phases (_PHASES); each job's output follows a line naming it and its
    exit code."""
    args = []
    for job in jobs(measurement):
        argv = ["timeout", "-s", "KILL", f"{job.seconds + kill_after:g}", *job.argv]
        args += [job.phase, job.name, str(len(argv)), *argv]
    return ["sh", "-c", _PHASES, "sh", *args]


def bound(measurement: Measurement, kill_after: float) -> float:
    """Seconds the whole command may take."""
    phases: dict[str, float] = {}
    for job in jobs(measurement):
        phases[job.phase] = max(phases.get(job.phase, 0), job.seconds + kill_after)
    return sum(phases.values())


def _netperf(
    m: Measurement, test: str, seconds: int, step: float, flow: int = 0, sized=True, wait: int = 0,
    probe: bool = False,
) -> tuple:  # fmt: skip
    """One job's netperf. Request/response jobs report in transactions/s (with -f m netperf's
    interim results of an RR test are Mbit/s to two decimals: 0.19 for 12,000 transactions/s);
    the RRUL probes also time every transaction (netperf's latency histogram). `wait`: seconds
    between netperf's set-up (its control connection) and its test (-s), so that a probe started
    with the flows connects before they load the path. A `probe` at a real-time priority runs
    under chrt against the server's netserver that runs at it, so that neither end waits for a
    CPU behind the flows (Measurement.probe_priority)."""
    rr = test.endswith("_RR")
    units = [] if rr else ["-f", "m"]
    sizes = ["-r", f"{m.size_bytes},{m.size_bytes}"] if rr else (["-m", str(m.size_bytes)] if sized else [])
    # A server behind NAT publishes a range of data ports from data_port: one per flow.
    data = ["-P", f",{m.data_port + flow}"] if m.data_port is not None else []
    keys = _PROBE_KEYS if rr and split_test(m.test)[0] == "RRUL" else _FLOW_KEYS
    realtime = probe and m.probe_priority is not None
    prefix = ("chrt", "-f", str(m.probe_priority)) if realtime else ()
    port = m.probe_netserver_port if realtime else m.netserver_port
    # Bound probes: the TCP one's ends on (client, server) CPUs, the UDP one's the other way round
    # (chosen when the two ran side by side, so that they shared no CPU at one end; in turn they
    # no longer meet, and the README's figures were measured so).
    cpus = m.probe_cpus if test == "TCP_RR" else tuple(reversed(m.probe_cpus or ()))
    bound = ["-T", f"{cpus[0]},{cpus[1]}"] if probe and m.probe_cpus is not None else []
    return (
        *prefix, m.netperf, "-P", "0", *units, "-H", m.server_address, "-p", str(port),
        "-l", str(seconds), "-t", test, "-D", f"{step:g}", *(["-s", str(wait)] if wait else []), *bound,
        *m.netperf_options,
        "--", *sizes, *data, "-k", ",".join(keys),
    )  # fmt: skip


# --- the output ---


@dataclass(frozen=True)
class Series:
    """A job's interim results: the end of each interval (seconds since the epoch), its length
    and the job's rate over it (Mbit/s for flows, transactions/s for probes)."""

    ends: tuple[float, ...]
    intervals: tuple[float, ...]
    values: tuple[float, ...]

    @property
    def start(self) -> float:
        return self.ends[0] - self.intervals[0]

    @property
    def end(self) -> float:
        return self.ends[-1]


def split_jobs(output: str) -> dict[str, tuple[int, float | None, str]]:
    """{job name: (exit code, when its netperf ended, output)} of a cell's command. The end is
    None where the command did not say it (an older version's, or a `date` without %N)."""
    found, name = {}, None
    for line in output.splitlines(keepends=True):
        if line.startswith(f"{_JOB_END} "):
            _, name, code, *ended = line.split()
            found[name] = (int(code), _seconds(ended[0]) if ended else None, "")
        elif name is not None:
            code, end, text = found[name]
            found[name] = (code, end, text + line)
    return found


def _seconds(stamp: str) -> float | None:
    try:
        return float(stamp)
    except ValueError:
        return None


def series(text: str) -> Series:
    """The interim results in a netperf output (demo mode); empty when netperf printed none."""
    fields: dict[str, dict[int, str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("NETPERF_") and key.endswith("]"):
            name, _, index = key[:-1].partition("[")
            fields.setdefault(name, {})[int(index)] = value.strip()
    indexes = sorted(fields.get("NETPERF_ENDING", {}))
    try:
        rows = [
            (float(fields["NETPERF_ENDING"][i]), float(fields["NETPERF_INTERVAL"][i]),
             float(fields["NETPERF_INTERIM_RESULT"][i]))
            for i in indexes
        ]  # fmt: skip
    except (KeyError, ValueError) as error:
        raise netperf.NetperfOutputError(f"an interim result is incomplete ({error})", text) from None
    return Series(*(tuple(column) for column in zip(*rows, strict=True))) if rows else Series((), (), ())


@dataclass(frozen=True)
class JobResult:
    name: str
    test: str
    rate: float  # Mbit/s (flows) or transactions/s (probes, parallel TCP_RR)
    transactions: int | None
    bytes_received: int
    elapsed_s: float
    latency_us: dict | None
    series: Series


def job_result(
    name: str, test: str, size_bytes: int, text: str, code: int, ended: float | None = None
) -> JobResult:
    """One job's result; NetperfOutputError unless it exited 0 with the measurement asked for
    and its interim results. `ended`: when its netperf ended (seconds since the epoch)."""
    if code != 0:
        raise netperf.NetperfOutputError(f"{name} exited {code}", text)
    values = netperf.parse_keyval(text)
    rr = test.endswith("_RR")
    direction = _FLOW_DIRECTION.get(test, "Send|Recv")
    if values.get("DIRECTION") != direction or values.get("PROTOCOL") != test.split("_")[0]:
        raise netperf.NetperfOutputError(f"{name} is not a {test} run", text)
    try:
        elapsed = float(values["ELAPSED_TIME"])
        if rr:
            rate = float(values["TRANSACTION_RATE"])
            if (int(values["REQUEST_SIZE"]), int(values["RESPONSE_SIZE"])) != (size_bytes, size_bytes):
                raise netperf.NetperfOutputError(f"{name}: not {size_bytes}-byte transactions", text)
            received = int(float(values["LOCAL_BYTES_RECVD"]))
            transactions = received // size_bytes
        else:
            rate = float(values["THROUGHPUT"])
            if values["THROUGHPUT_UNITS"] != netperf.UNITS:
                raise netperf.NetperfOutputError(f"{name}: THROUGHPUT is not in {netperf.UNITS}", text)
            key = "LOCAL_BYTES_RECVD" if test == "TCP_MAERTS" else "REMOTE_BYTES_RECVD"
            received, transactions = int(float(values[key])), None
    except KeyError as error:
        raise netperf.NetperfOutputError(f"{name}: netperf output lacks {error}", text) from None
    if not math.isfinite(rate) or rate < 0 or elapsed <= 0:
        raise netperf.NetperfOutputError(f"{name} measured nothing (rate {rate}, {elapsed} s)", text)
    latency = None
    if "P50_LATENCY" in values:
        latency = netperf.computable(
            {key.removesuffix("_LATENCY").lower(): float(values[key])
             for key in ("P50_LATENCY", "P90_LATENCY", "P99_LATENCY", "MEAN_LATENCY")},
            transactions,
        )  # fmt: skip
    result = JobResult(name, test, rate, transactions, received, elapsed, latency, series(text))
    if result.series.ends or not _starved(result):
        if not result.series.ends:  # it moved data, yet printed no interim result
            raise netperf.NetperfOutputError(
                f"{name} printed no interim results: it moved {received} bytes in {elapsed:g} s, "
                "so this netperf has no demo mode (-D)",
                text,
            )
        return result
    if ended is not None:
        # Starved: the others left it nothing, so it printed no interim result (netperf prints
        # one when a send or a transaction completes). Its run is known still: it ended with its
        # netperf, `elapsed` seconds after its test began; the cell keeps it, at 0 (parse).
        return replace(result, series=Series((ended,), (elapsed,), (0.0,)))
    if rr:  # a probe: kept, without a latency, its window unknown (parse)
        return result
    raise netperf.NetperfOutputError(
        f"{name} printed no interim results: it moved {received} bytes in {elapsed:g} s "
        "(starved by the others), and its end is not known",
        text,
    )


def parse(test: str, size_bytes: int, output: str) -> tuple[netperf.NetperfResult, dict]:
    """The cell's result, and the fields its record keeps besides (`load`: each job's window and
    time series; for RRUL the metrics of latency under load). NetperfOutputError, with every
    job's window as evidence, where a job failed or the flows did not cover the measured window."""
    base, flows = split_test(test)
    found = split_jobs(output)
    # Each job's netperf test, from the jobs such a cell runs (their names and tests depend on
    # the test id alone, not on the hosts or the duration given here).
    tests = {job.name: job.test for job in jobs(Measurement(test, size_bytes, 1, (), "", "", "", 0))}
    if sorted(found) != sorted(tests):
        raise netperf.NetperfOutputError(f"jobs {sorted(found)}, not {sorted(tests)}", output)
    results = {
        name: job_result(name, tests[name], size_bytes, text, code, ended)
        for name, (code, ended, text) in found.items()
    }
    kept = {"load": {"flows_per_direction" if base == "RRUL" else "flows": flows,
                     "jobs": _timeline(results)}}  # fmt: skip
    # Jobs that moved nothing: the cell is valid (it measured what the path gave N flows) and
    # its record names them; the figures flag it (vnetbench.aggregate).
    starved = [name for name, r in results.items() if _starved(r)]
    if starved:
        kept["load"]["starved"] = starved
    if base != "RRUL":
        _check_together([results[f"flow{i + 1}"] for i in range(flows)], output)
        return _parallel(test, size_bytes, list(results.values())), kept
    loaded = [r for name, r in results.items() if name.startswith(("up", "down"))]
    probes = [results["probe_tcp"], results["probe_udp"]]
    _check_covered(loaded, probes, output)
    up = sum(r.rate for r in loaded if r.test == "TCP_STREAM")
    down = sum(r.rate for r in loaded if r.test == "TCP_MAERTS")
    tcp = results["probe_tcp"]
    kept |= {
        "upload_mbit_s": up,
        "download_mbit_s": down,
        "probe_latency_us": _mean_latency(tcp),
        "idle_latency_us": _mean_latency(results["idle_tcp"]),
        "udp_probe_latency_us": _mean_latency(results["probe_udp"]),
        "udp_idle_latency_us": _mean_latency(results["idle_udp"]),
    }
    for prefix in ("", "udp_"):
        loaded_us, idle_us = kept[f"{prefix}probe_latency_us"], kept[f"{prefix}idle_latency_us"]
        kept[f"{prefix}latency_inflation"] = loaded_us / idle_us if loaded_us and idle_us else None
    probes = [results[name] for name in ("idle_tcp", "idle_udp", "probe_tcp", "probe_udp")]
    stalled = [p.name for p in probes if _stalled(p)]
    if stalled:
        kept["load"]["stalled"] = stalled
    result = netperf.NetperfResult(
        test=test,
        size_bytes=size_bytes,
        throughput_mbit_s=up + down,
        transactions_per_s=tcp.rate,
        transactions=tcp.transactions,
        bytes_received=sum(r.bytes_received for r in loaded),
        datagrams_sent=None,
        datagrams_received=None,
        elapsed_s=tcp.elapsed_s,
        latency_us=tcp.latency_us,
    )
    return result, kept


def _mean_latency(probe: JobResult) -> float | None:
    """A probe's mean round trip in microseconds (one transaction in flight: its time over its
    transactions); None where it has none: starved, or a UDP probe that stalled."""
    return None if _starved(probe) or _stalled(probe) else 1e6 / probe.rate


def _starved(job: JobResult) -> bool:
    """A job that completed no transaction (a probe, a TCP_RR flow) or moved no byte in its run:
    the others left it nothing."""
    return job.transactions == 0 if job.transactions is not None else job.bytes_received == 0


def _stalled(probe: JobResult) -> bool:
    """A UDP probe that stopped for good before its end: netperf's UDP_RR does not resend a lost
    datagram, and prints an interim result only when a transaction completes, so its last one
    came well before the run's end. (A TCP probe's gap is the path's: TCP resends.)"""
    series = probe.series
    return (
        probe.test == "UDP_RR" and bool(series.ends) and series.start + probe.elapsed_s - series.end > STALL_S
    )


def _parallel(test: str, size_bytes: int, flows: list[JobResult]) -> netperf.NetperfResult:
    """N flows as one result: rates and work summed (super_netperf's aggregate)."""
    rr = flows[0].transactions is not None
    rate = sum(flow.rate for flow in flows)
    return netperf.NetperfResult(
        test=test,
        size_bytes=size_bytes,
        throughput_mbit_s=rate * 2 * size_bytes * 8 / 1e6 if rr else rate,
        transactions_per_s=rate if rr else None,
        transactions=sum(flow.transactions for flow in flows) if rr else None,
        bytes_received=sum(flow.bytes_received for flow in flows),
        datagrams_sent=None,
        datagrams_received=None,
        elapsed_s=max(flow.elapsed_s for flow in flows),
    )


def _windows(results: list[JobResult]) -> str:
    zero = min(r.series.start for r in results if r.series.ends)
    return "; ".join(
        f"{r.name} {r.series.start - zero:.2f}-{r.series.end - zero:.2f} s"
        if r.series.ends
        else f"{r.name} none"
        for r in results
    )


def _check_together(flows: list[JobResult], output: str) -> None:
    unknown = [f.name for f in flows if not f.series.ends]
    if unknown:  # a TCP_RR flow that completed nothing, from a command that did not say its end
        raise netperf.NetperfOutputError(
            f"{', '.join(unknown)} completed nothing and printed no interim result: when it ran is unknown",
            output,
        )
    together = min(f.series.end for f in flows) - max(f.series.start for f in flows)
    shortest = min(f.series.end - f.series.start for f in flows)
    if together < OVERLAP * shortest:
        raise FlowsApart(
            f"the flows ran together {max(together, 0):.2f} s, less than {OVERLAP:.0%} of the shortest "
            f"({shortest:.2f} s): {_windows(flows)}",
            output,
        )


def _check_covered(flows: list[JobResult], probes: list[JobResult], output: str) -> None:
    timed = [p for p in probes if p.series.ends]
    if timed:
        start, end = min(p.series.start for p in timed), max(p.series.end for p in timed)
    else:  # both starved: the window they were given
        start = min(f.series.start for f in flows) + WARMUP_S
        end = start + max(p.elapsed_s for p in probes)
    late = [f for f in flows if f.series.start > start or f.series.end < end]
    if late:
        raise FlowsApart(
            f"flows {', '.join(f.name for f in late)} did not run throughout the probes' window: "
            f"{_windows(flows + probes)}",
            output,
        )


def _timeline(results: dict[str, JobResult]) -> dict:
    """Each job's rate, window and time series, in seconds from its phase's first start (the idle
    probes', the load's): [[end of interval, its length, rate], ...]."""
    phases: dict[str, float] = {}
    for name, r in results.items():
        if r.series.ends:
            phase = "idle" if name.startswith("idle") else "run"
            phases[phase] = min(phases.get(phase, math.inf), r.series.start)
    timeline = {}
    for name, r in results.items():
        zero = phases.get("idle" if name.startswith("idle") else "run", 0.0)
        timeline[name] = {
            "test": r.test,
            "rate": r.rate,
            "unit": "Mbit/s" if r.transactions is None else "trans/s",
            "window_s": [round(r.series.start - zero, 3), round(r.series.end - zero, 3)]
            if r.series.ends
            else None,
            "series": [
                [round(end - zero, 3), interval, value]
                for end, interval, value in zip(
                    r.series.ends, r.series.intervals, r.series.values, strict=True
                )
            ],
        }
    return timeline
