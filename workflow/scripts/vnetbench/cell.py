"""One cell from start to record: run netperf on the client against the server.

The hot path is one SSH connection and one remote command. Only when netperf
finds no netserver does the cell reach the server host, start one, and retry.
"""

from dataclasses import asdict, dataclass

from . import netperf, netserver
from .config import Cell, Platform
from .hosts import CommandTimedOut, open_session
from .records import utc_now, write_json_atomic

# Seconds the SSH command may outlive the remote `timeout`, so the remote side
# always stops netperf first and reports it.
_SSH_GRACE = 5.0
# How `timeout -s KILL` ends: it kills its whole process group, itself
# included, so a shell reports 137 and a direct parent sees -9.
_KILLED = {124, 137, -9}


@dataclass(frozen=True)
class Settings:
    duration: float
    timeout_margin: float
    retries: int
    netperf_options: tuple[str, ...] = ()


class CellFailed(Exception):
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


def measure(cell: Cell, platform: Platform, settings: Settings, log=print) -> dict:
    """Run the cell's netperf and return its record (not yet written)."""
    client, server = platform.client, platform.server
    limit = settings.duration + settings.timeout_margin
    argv = netperf.command(
        cell.test,
        cell.size_bytes,
        settings.duration,
        server.address,
        server.netserver_port,
        client.netperf,
        settings.netperf_options,
    )
    # The remote `timeout` kills netperf itself: closing an SSH channel would not.
    wrapped = ["timeout", "-s", "KILL", f"{limit:g}", *argv]
    session = open_session(client)
    try:
        for attempt in range(settings.retries + 1):
            started_at = utc_now()
            try:
                result = session.run(wrapped, timeout=limit + _SSH_GRACE)
            except CommandTimedOut as error:
                raise CellFailed(cell, f"no answer within {limit + _SSH_GRACE:g} s", error.command) from None
            finished_at = utc_now()
            log(f"attempt {attempt + 1}: exit {result.exit_code} ({started_at} .. {finished_at})")
            if result.exit_code == 0 or result.exit_code in _KILLED or attempt == settings.retries:
                break
            # netperf failed: retry only if netserver was gone (and is now restarted). A
            # frozen netserver is alive; its cell fails on the timeout instead.
            log(f"netperf failed; checking netserver at {server.address}:{server.netserver_port}")
            if not _start_netserver(server, log).startswith("started"):
                break
    finally:
        session.close()

    if result.exit_code in _KILLED:
        raise CellFailed(
            cell,
            f"netperf killed after {limit:g} s (duration + timeout_margin)",
            result.command,
            result.exit_code,
            result.output,
        )
    if result.exit_code != 0:
        raise CellFailed(cell, "netperf failed", result.command, result.exit_code, result.output)
    try:
        measurement = netperf.parse_measurement(cell.test, cell.size_bytes, result.output)
    except netperf.NetperfOutputError as error:
        raise CellFailed(
            cell, str(error).splitlines()[0], result.command, result.exit_code, result.output
        ) from None

    return {
        **asdict(cell),
        **asdict(measurement),
        "started_at": started_at,
        "finished_at": finished_at,
        "attempts": attempt + 1,
        "duration_s": settings.duration,
        "client": client.target,
        "server": server.target,
        "server_address": server.address,
        "command": result.command,
        "raw_output": result.output,
    }


def _start_netserver(server, log) -> str:
    """Start netserver on the server host unless it runs ("started PID" / "running PID").
    A HostError (unreachable, refused, could not start) fails the cell and names the host."""
    session = open_session(server)
    try:
        outcome = netserver.ensure(session, server)
    finally:
        session.close()
    log(outcome)
    return outcome


def run(
    cell: Cell, platform: Platform, settings: Settings, hosts_facts: dict, output: str, log=print, extra=None
) -> dict:
    """Measure the cell and write its record atomically to `output` (with `extra` fields)."""
    record = measure(cell, platform, settings, log)
    record["client_facts"] = hosts_facts.get(platform.client.name, {})
    record["server_facts"] = hosts_facts.get(platform.server.name, {})
    record.update(extra or {})
    write_json_atomic(output, record)
    return record
