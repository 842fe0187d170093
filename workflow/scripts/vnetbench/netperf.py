"""netperf's command line and output: pure functions of text, no network.

A cell runs one classic netperf test (TCP_RR, UDP_RR, TCP_CRR, TCP_STREAM, UDP_STREAM)
through the omni code with keyval output (`-k`), which is robust to empty
values where the CSV output is not. The parser accepts an output only when it is
the measurement the cell asked for: test, direction, sizes and units, and values
that are finite and not negative.
"""

import math
import re
from dataclasses import dataclass

from .errors import VnetbenchError
from .model import RR_TESTS, TESTS

# No latency selector: any of them turns netperf's histogram on, which costs
# time in every transaction.
SELECTORS = (
    "THROUGHPUT",
    "THROUGHPUT_UNITS",
    "TRANSACTION_RATE",
    "PROTOCOL",
    "DIRECTION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "LOCAL_SEND_SIZE",
    "ELAPSED_TIME",
    "LOCAL_BYTES_SENT",
    "LOCAL_BYTES_RECVD",
    "REMOTE_BYTES_SENT",
    "REMOTE_BYTES_RECVD",
    "LOCAL_SEND_CALLS",
    "REMOTE_RECV_CALLS",
    "LOCAL_SEND_THROUGHPUT",
    "REMOTE_RECV_THROUGHPUT",
    "COMMAND_LINE",
)
# Asked for only by figures that want them: any latency selector turns netperf's histogram
# on (it times every transaction), and CPU needs -c -C.
LATENCY_SELECTORS = (
    "MIN_LATENCY", "P50_LATENCY", "P90_LATENCY", "P99_LATENCY", "MAX_LATENCY",
    "MEAN_LATENCY", "STDDEV_LATENCY",
)  # fmt: skip
CPU_SELECTORS = (
    "LOCAL_CPU_UTIL", "REMOTE_CPU_UTIL", "LOCAL_SD", "REMOTE_SD", "SD_UNITS",
    "LOCAL_CPU_METHOD", "REMOTE_CPU_METHOD", "LOCAL_CPU_COUNT", "REMOTE_CPU_COUNT",
)  # fmt: skip
# Service demand, with -f m: microseconds of CPU per KB (1024 bytes) moved, both directions
# counted for a request/response test (checked against netperf 2.7.0: LOCAL_SD = CPU time per
# second / (transactions per second x (request + response) / 1024)).
SD_UNITS = "usec/KB"
# `-f m`: throughputs in 10^6 bits/s, which the figures call Mbit/s.
UNITS = "10^6bits/s"
# What each test does, as netperf names it: RR tests send and receive, STREAM tests send.
DIRECTION = {"TCP_RR": "Send|Recv", "UDP_RR": "Send|Recv", "TCP_CRR": "Connect|Send|Recv",
             "TCP_STREAM": "Send", "UDP_STREAM": "Send"}  # fmt: skip
# The values each kind of test is read from: each must be finite and not negative.
# Others may hold netperf's "not applicable" -1 (REQUEST_SIZE of a STREAM test).
_USED = {
    "rr": ("TRANSACTION_RATE", "REQUEST_SIZE", "RESPONSE_SIZE", "ELAPSED_TIME", "LOCAL_BYTES_RECVD",
           "REMOTE_BYTES_RECVD", "THROUGHPUT"),
    "stream": ("REMOTE_RECV_THROUGHPUT", "LOCAL_SEND_SIZE", "ELAPSED_TIME", "REMOTE_BYTES_RECVD",
               "LOCAL_SEND_CALLS", "REMOTE_RECV_CALLS", "THROUGHPUT", "LOCAL_SEND_THROUGHPUT"),
}  # fmt: skip
_TEXT_KEYS = {"THROUGHPUT_UNITS", "PROTOCOL", "DIRECTION", "COMMAND_LINE", "SD_UNITS", "LOCAL_CPU_METHOD",
              "REMOTE_CPU_METHOD"}  # fmt: skip

# Global options a config may add (netperf_options), with the form of their value. Every
# other option is refused: the cell sets -t -H -p -l -f -P and the test-specific options,
# and an option given twice silently takes the last value (netperf's last -f wins).
ALLOWED_OPTIONS = {
    "-4": None,  # IPv4 only
    "-6": None,  # IPv6 only
    "-T": re.compile(r"^(\d+)?,?(\d+)?$"),  # -T LCPU,RCPU: bind netperf and netserver to CPUs
    "-n": re.compile(r"^\d+$"),  # -n NUMCPU: CPUs netperf assumes for CPU utilisation
}
_SET_BY_THE_CELL = {
    "-t": "the figure's test",
    "-H": "the server's address",
    "-p": "the server's netserver_port",
    "-l": "duration",
    "-f": "the units (10^6 bits/s)",
    "-P": "the output format",
    "-L": "the local address",
    "--": "the cell's test-specific options (-r, -m, -M, -s, -S, -k ...)",
}


class NetperfOutputError(VnetbenchError):
    """netperf exited but its output is not the result that was asked for."""

    def __init__(self, message: str, output: str):
        super().__init__(f"{message}\n--- netperf output ---\n{output.rstrip()}")
        self.output = output


@dataclass(frozen=True)
class NetperfResult:
    """What one netperf run measured, in the units the figures use."""

    test: str
    size_bytes: int
    throughput_mbit_s: float
    transactions_per_s: float | None  # RR tests only
    transactions: int | None  # RR: completed transactions
    bytes_received: int  # by the receiving end
    datagrams_sent: int | None  # UDP_STREAM: send calls on the sender
    datagrams_received: int | None  # UDP_STREAM: receive calls on the receiver
    elapsed_s: float
    # Asked-for extras: {"p50": ..., ...} in microseconds; CPU utilisation and service demand.
    latency_us: dict | None = None
    cpu: dict | None = None
    send_throughput_mbit_s: float | None = None  # bulk tests: the sender's rate (UDP: above what arrived)


def option_problem(options: list[str] | tuple[str, ...]) -> tuple[int, str] | None:
    """(index, problem) of the first extra global option a cell cannot take, or None."""
    index = 0
    while index < len(options):
        option = options[index]
        name, inline = option[:2], option[2:]
        if option in _SET_BY_THE_CELL or name in _SET_BY_THE_CELL:
            return index, f"{option!r} is set by the cell ({_SET_BY_THE_CELL[option[:2]]})"
        if name not in ALLOWED_OPTIONS or not option.startswith("-"):
            return index, f"{option!r} is not an option vnetbench passes to netperf"
        form = ALLOWED_OPTIONS[name]
        if form is None:
            if inline:
                return index, f"{option!r}: {name} takes no value"
        else:
            if not inline:
                index += 1
                if index == len(options):
                    return index - 1, f"{name} needs a value"
                inline = options[index]
            if not form.match(inline) or inline in ("", ","):
                return index, f"{inline!r} is not a value of {name}"
        index += 1
    return None


def allowed_options_text() -> str:
    return "-4, -6, -T LCPU,RCPU, -n NUMCPU"


def command(
    test: str,
    size_bytes: int,
    duration: int,
    server_address: str,
    netserver_port: int,
    netperf: str = "netperf",
    extra_options: tuple[str, ...] = (),
    latency: bool = False,
    cpu: bool = False,
    amount: int | None = None,
    data_port: int | None = None,
) -> list[str]:
    """The argument list of one netperf run (never a shell string). `amount`: a run of that
    many transactions (request/response) or bytes (bulk) instead of `duration` seconds;
    `data_port`: the server's port of the data connection (else netserver picks one)."""
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; allowed: {', '.join(TESTS)}")
    if amount is not None:
        if int(amount) != amount or amount < 1:
            raise ValueError(f"a sized run needs a positive whole amount, not {amount!r}")
    elif float(duration) != int(duration) or int(duration) < 1:
        raise ValueError(f"duration {duration!r}: netperf runs whole seconds (-l is read with atoi)")
    sizes = ["-r", f"{size_bytes},{size_bytes}"] if test in RR_TESTS else ["-m", str(size_bytes)]
    # -P 0 drops banners; -f m makes THROUGHPUT 10^6 bits/s.
    global_options = ["-P", "0", "-f", "m", "-H", server_address, "-p", str(netserver_port)]
    # -l N runs N seconds; -l -N runs N transactions (request/response) or bytes (bulk).
    length = str(-int(amount)) if amount is not None else str(int(duration))
    global_options += ["-l", length, "-t", test, *(["-c", "-C"] if cpu else []), *extra_options]
    data = ["-P", f",{data_port}"] if data_port is not None else []
    # netperf sets SO_DONTROUTE on UDP_STREAM's data socket unless told (-R 1): a routed path
    # (containers, tunnels, NAT) would fail at once with "Network is unreachable".
    data += ["-R", "1"] if test == "UDP_STREAM" else []
    return [netperf, *global_options, "--", *sizes, *data, "-k", ",".join(selectors(latency, cpu))]


def selectors(latency: bool = False, cpu: bool = False) -> tuple[str, ...]:
    """The fields a cell asks netperf for, and so requires in its output."""
    return SELECTORS + (LATENCY_SELECTORS if latency else ()) + (CPU_SELECTORS if cpu else ())


def parse_keyval(text: str) -> dict[str, str]:
    """KEY=VALUE lines of `-k` output; other lines are ignored."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isupper() and key.replace("_", "").isalnum():
            values[key] = value.strip().strip('"')
    return values


def parse_result(
    test: str, size_bytes: int, text: str, latency: bool = False, cpu: bool = False
) -> NetperfResult:
    """The result in netperf's output; NetperfOutputError, naming the field, if it is not
    the measurement asked for (with `latency` and `cpu`: those fields too)."""
    values = parse_keyval(text)
    missing = [key for key in selectors(latency, cpu) if key not in values]
    if missing:
        raise NetperfOutputError(f"netperf output lacks {', '.join(missing)}", text)
    numbers = _numbers(values, text)
    protocol = test.split("_")[0]
    expected = {"PROTOCOL": protocol, "DIRECTION": DIRECTION[test], "THROUGHPUT_UNITS": UNITS}
    if cpu:
        expected["SD_UNITS"] = SD_UNITS
    for key, value in expected.items():
        if values[key] != value:
            raise NetperfOutputError(f"{key} is {values[key]!r}, not the {value!r} of a {test} cell", text)
    kind = "rr" if test in RR_TESTS else "stream"
    used = _USED[kind] + (LATENCY_SELECTORS if latency else ())
    used += tuple(key for key in CPU_SELECTORS if key not in _TEXT_KEYS) if cpu else ()
    for key in used:
        if numbers[key] < 0:
            raise NetperfOutputError(f"{key} is {values[key]}: netperf could not measure it", text)
    elapsed = numbers["ELAPSED_TIME"]  # printed to 0.01 s: a short sized run may read 0.00
    if elapsed <= 0 and numbers["THROUGHPUT"] <= 0:
        raise NetperfOutputError("ELAPSED_TIME and THROUGHPUT are 0: netperf measured nothing", text)
    # A response counts only once it has fully arrived.
    transactions = int(numbers["LOCAL_BYTES_RECVD"]) // max(1, int(numbers["RESPONSE_SIZE"]))
    extras = {
        "latency_us": latency_of(numbers, transactions if kind == "rr" else None) if latency else None,
        "cpu": _cpu(numbers, values, test) if cpu else None,
    }

    if kind == "rr":
        request, response = int(numbers["REQUEST_SIZE"]), int(numbers["RESPONSE_SIZE"])
        if (request, response) != (size_bytes, size_bytes):
            raise NetperfOutputError(
                f"REQUEST_SIZE/RESPONSE_SIZE are {request}/{response} bytes, "
                f"not the {size_bytes}/{size_bytes} asked for",
                text,
            )
        rate = numbers["TRANSACTION_RATE"]
        return NetperfResult(
            test=test,
            size_bytes=size_bytes,
            # Both directions, as netperf's own THROUGHPUT with -f m, but from
            # the rate's three decimals rather than THROUGHPUT's two.
            throughput_mbit_s=rate * (request + response) * 8 / 1e6,
            transactions_per_s=rate,
            transactions=transactions,
            bytes_received=int(numbers["LOCAL_BYTES_RECVD"] + numbers["REMOTE_BYTES_RECVD"]),
            datagrams_sent=None,
            datagrams_received=None,
            elapsed_s=elapsed,
            **extras,
        )

    send_size = int(numbers["LOCAL_SEND_SIZE"])
    if send_size != size_bytes:
        raise NetperfOutputError(
            f"LOCAL_SEND_SIZE is {send_size} bytes, not the {size_bytes} asked for", text
        )
    udp = test == "UDP_STREAM"
    return NetperfResult(
        test=test,
        size_bytes=size_bytes,
        # The receiver's rate: a UDP sender can report far more than arrived.
        throughput_mbit_s=numbers["REMOTE_RECV_THROUGHPUT"],
        transactions_per_s=None,
        transactions=None,
        bytes_received=int(numbers["REMOTE_BYTES_RECVD"]),
        datagrams_sent=int(numbers["LOCAL_SEND_CALLS"]) if udp else None,
        datagrams_received=int(numbers["REMOTE_RECV_CALLS"]) if udp else None,
        elapsed_s=elapsed,
        **extras,
        send_throughput_mbit_s=numbers["LOCAL_SEND_THROUGHPUT"],
    )


# The fewest transactions a run needs for netperf's percentile to mean anything: with fewer,
# its histogram returns 0 (seen at 50 MB, one transaction per run), an impossible latency.
PERCENTILE_TRANSACTIONS = {"p50": 2, "p90": 10, "p99": 100}


def latency_of(numbers: dict[str, float], transactions: int | None) -> dict:
    """The run's latency figures in microseconds; a percentile netperf could not compute (too
    few transactions, or 0) is None: missing, never 0."""
    return computable({key.removesuffix("_LATENCY").lower(): numbers[key] for key in LATENCY_SELECTORS},
                      transactions)  # fmt: skip


def computable(latency: dict, transactions: int | None) -> dict:
    """`latency` with the percentiles netperf could not compute set to None."""
    return latency | {
        key: None
        for key, fewest in PERCENTILE_TRANSACTIONS.items()
        if not (latency.get(key) or 0) > 0 or (transactions is not None and transactions < fewest)
    }


def _cpu(numbers: dict[str, float], values: dict[str, str], test: str) -> dict:
    """netperf's CPU measurement of both ends: utilisation (% of all the host's CPUs),
    service demand (us of CPU per KB moved) and, for RR tests, per transaction."""
    cpu = {
        "client_util_percent": numbers["LOCAL_CPU_UTIL"],
        "server_util_percent": numbers["REMOTE_CPU_UTIL"],
        "client_service_demand": numbers["LOCAL_SD"],
        "server_service_demand": numbers["REMOTE_SD"],
        "service_demand_units": values["SD_UNITS"],
        "client_method": values["LOCAL_CPU_METHOD"],
        "server_method": values["REMOTE_CPU_METHOD"],
        "client_cpus": int(numbers["LOCAL_CPU_COUNT"]),
        "server_cpus": int(numbers["REMOTE_CPU_COUNT"]),
    }
    if test in RR_TESTS:
        kilobytes = (numbers["REQUEST_SIZE"] + numbers["RESPONSE_SIZE"]) / 1024
        # A service demand of 0 is netperf finding no CPU time to read (inside a gVisor sandbox,
        # whose /proc/stat is its own): no measurement, never a transaction that cost nothing.
        for end, demand in (("client", "LOCAL_SD"), ("server", "REMOTE_SD")):
            cpu[f"{end}_us_per_transaction"] = numbers[demand] * kilobytes if numbers[demand] > 0 else None
    return cpu


def _numbers(values: dict[str, str], text: str) -> dict[str, float]:
    numbers = {}
    for key, value in values.items():
        if key in _TEXT_KEYS:
            continue
        try:
            number = float(value)
        except ValueError:
            raise NetperfOutputError(f"{key} is not a number: {value!r}", text) from None
        if not math.isfinite(number):
            raise NetperfOutputError(f"{key} is {value}, not a finite number", text)
        numbers[key] = number
    return numbers


def combine(results: list[NetperfResult]) -> NetperfResult:
    """Several runs of one cell as one result. A rate is total work over total time: each run
    did its amount of work (a sized run: the same; a timed run: what fit) in its time, and the
    cell's rate is what they did together, not the mean of their rates, which overweights a
    fast run. Latency percentiles and CPU figures are the mean of the runs' own (netperf gives
    no histogram to pool): a percentile missing from any run is missing from the cell. Counts
    and times are summed."""
    if len(results) == 1:
        return results[0]
    seconds = [run_seconds(r) for r in results]

    def over_time(name):
        values = [getattr(r, name) for r in results]
        if values[0] is None:
            return None
        return sum(v * t for v, t in zip(values, seconds, strict=True)) / sum(seconds)

    def mean_of_dicts(dicts):
        if dicts[0] is None:
            return None
        out = {}
        for key, first in dicts[0].items():
            values = [d.get(key) for d in dicts]
            if any(v is None for v in values):
                out[key] = None
            elif isinstance(first, int | float):
                out[key] = sum(values) / len(values)
            else:
                out[key] = first
        return out

    def total(name):
        values = [getattr(r, name) for r in results]
        return None if values[0] is None else sum(values)

    first = results[0]
    return NetperfResult(
        test=first.test,
        size_bytes=first.size_bytes,
        throughput_mbit_s=over_time("throughput_mbit_s"),
        transactions_per_s=over_time("transactions_per_s"),
        transactions=total("transactions"),
        bytes_received=total("bytes_received"),
        datagrams_sent=total("datagrams_sent"),
        datagrams_received=total("datagrams_received"),
        elapsed_s=round(total("elapsed_s"), 3),
        latency_us=mean_of_dicts([r.latency_us for r in results]),
        cpu=mean_of_dicts([r.cpu for r in results]),
        send_throughput_mbit_s=over_time("send_throughput_mbit_s"),
    )


def run_seconds(result: NetperfResult) -> float:
    """How long a run measured: its work over its rate (netperf prints ELAPSED_TIME to 0.01 s
    only, which a run of 0.05 s cannot afford), else ELAPSED_TIME."""
    if result.transactions and result.transactions_per_s:
        return result.transactions / result.transactions_per_s
    if result.bytes_received and result.throughput_mbit_s:
        return result.bytes_received * 8 / 1e6 / result.throughput_mbit_s
    return result.elapsed_s or 1.0


def result_of(test: str, size_bytes: int, fields: dict) -> NetperfResult:
    """A run (or a cell) as a record stores it, read back."""
    names = NetperfResult.__dataclass_fields__.keys() - {"test", "size_bytes"}
    return NetperfResult(test, size_bytes, **{name: fields.get(name) for name in names})


def parse_version(text: str) -> str:
    """'Netperf version 2.7.0' -> '2.7.0'."""
    for line in text.splitlines():
        if line.startswith("Netperf version"):
            return line.split()[-1]
    raise NetperfOutputError("no 'Netperf version' line", text)
