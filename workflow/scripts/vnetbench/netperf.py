"""netperf's command line and output: pure functions of text, no network.

A cell runs one classic netperf test (TCP_RR, UDP_RR, TCP_STREAM, UDP_STREAM)
through the omni code with keyval output (`-k`), which is robust to empty
values where the CSV output is not.
"""

from dataclasses import dataclass

RR_TESTS = ("TCP_RR", "UDP_RR")
STREAM_TESTS = ("TCP_STREAM", "UDP_STREAM")
TESTS = RR_TESTS + STREAM_TESTS

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


class NetperfOutputError(Exception):
    """netperf exited but its output is not the result that was asked for."""

    def __init__(self, message: str, output: str):
        super().__init__(f"{message}\n--- netperf output ---\n{output.rstrip()}")
        self.output = output


@dataclass(frozen=True)
class Measurement:
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


def command(
    test: str,
    size_bytes: int,
    duration: float,
    server_address: str,
    netserver_port: int,
    netperf: str = "netperf",
    extra_options: tuple[str, ...] = (),
) -> list[str]:
    """The argument list of one netperf run (never a shell string)."""
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; allowed: {', '.join(TESTS)}")
    sizes = ["-r", f"{size_bytes},{size_bytes}"] if test in RR_TESTS else ["-m", str(size_bytes)]
    # -P 0 drops banners; -f m makes THROUGHPUT 10^6 bits/s.
    global_options = ["-P", "0", "-f", "m", "-H", server_address, "-p", str(netserver_port)]
    global_options += ["-l", _format_duration(duration), "-t", test, *extra_options]
    return [netperf, *global_options, "--", *sizes, "-k", ",".join(SELECTORS)]


def _format_duration(duration: float) -> str:
    return str(int(duration)) if float(duration).is_integer() else str(duration)


def parse_keyval(text: str) -> dict[str, str]:
    """KEY=VALUE lines of `-k` output; other lines are ignored."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isupper() and key.replace("_", "").isalnum():
            values[key] = value.strip().strip('"')
    return values


def parse_measurement(test: str, size_bytes: int, text: str) -> Measurement:
    """The Measurement in netperf's output; NetperfOutputError if it is not the one asked for."""
    values = parse_keyval(text)
    missing = [key for key in SELECTORS if key not in values]
    if missing:
        raise NetperfOutputError(f"netperf output lacks {', '.join(missing)}", text)
    try:
        numbers = {k: float(v) for k, v in values.items() if k not in _TEXT_KEYS}
    except ValueError as error:
        raise NetperfOutputError(f"netperf output has a non-numeric value: {error}", text) from None
    protocol = test.split("_")[0]
    if values["PROTOCOL"] != protocol:
        raise NetperfOutputError(f"netperf ran {values['PROTOCOL']}, not {protocol}", text)
    elapsed = numbers["ELAPSED_TIME"]
    if elapsed <= 0:
        raise NetperfOutputError("netperf reports no elapsed time", text)

    if test in RR_TESTS:
        request, response = int(numbers["REQUEST_SIZE"]), int(numbers["RESPONSE_SIZE"])
        if (request, response) != (size_bytes, size_bytes):
            raise NetperfOutputError(
                f"netperf measured request/response {request}/{response} bytes, "
                f"not the {size_bytes}/{size_bytes} asked for",
                text,
            )
        rate = numbers["TRANSACTION_RATE"]
        return Measurement(
            test=test,
            size_bytes=size_bytes,
            # Both directions, as netperf's own THROUGHPUT with -f m, but from
            # the rate's three decimals rather than THROUGHPUT's two.
            throughput_mbit_s=rate * (request + response) * 8 / 1e6,
            transactions_per_s=rate,
            # A response counts only once it has fully arrived.
            transactions=int(numbers["LOCAL_BYTES_RECVD"]) // response,
            bytes_received=int(numbers["LOCAL_BYTES_RECVD"] + numbers["REMOTE_BYTES_RECVD"]),
            datagrams_sent=None,
            datagrams_received=None,
            elapsed_s=elapsed,
        )

    send_size = int(numbers["LOCAL_SEND_SIZE"])
    if send_size != size_bytes:
        raise NetperfOutputError(
            f"netperf sent {send_size}-byte messages, not the {size_bytes} asked for", text
        )
    udp = test == "UDP_STREAM"
    return Measurement(
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
    )


_TEXT_KEYS = {"THROUGHPUT_UNITS", "PROTOCOL", "DIRECTION", "COMMAND_LINE"}


def parse_version(text: str) -> str:
    """'Netperf version 2.7.0' -> '2.7.0'."""
    for line in text.splitlines():
        if line.startswith("Netperf version"):
            return line.split()[-1]
    raise NetperfOutputError("no 'Netperf version' line", text)
