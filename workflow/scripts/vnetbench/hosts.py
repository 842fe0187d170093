"""Running commands on hosts: this machine directly, or any other over SSH with Fabric.

Both kinds sit behind one small interface, `open_session(host).run(argv, timeout)`.
Commands are argument lists; over SSH they are joined with shell quoting, so no
config text ever reaches a remote shell unquoted. Host keys are checked strictly
against the configured known_hosts file: an unknown or changed key is refused.
"""

import shlex
import socket
import subprocess
import time
from dataclasses import dataclass

LOCAL = "local"


@dataclass(frozen=True)
class Host:
    """One end of a platform, as the config describes it."""

    name: str  # "native client", for messages
    ssh_host: str  # "local" for this machine, else the SSH address
    port: int = 22
    user: str = "root"
    key: str | None = None
    known_hosts: str | None = None
    address: str | None = None  # where netperf sends data (servers)
    netperf: str = "netperf"
    netserver: str = "netserver"
    netserver_port: int = 12865
    connect_timeout: float = 5.0
    identity: str | None = None  # what a measurement is tied to; defaults to `target`

    @property
    def is_local(self) -> bool:
        return self.ssh_host == LOCAL

    @property
    def target(self) -> str:
        return LOCAL if self.is_local else f"{self.user}@{self.ssh_host}:{self.port}"

    @property
    def measured_as(self) -> str:
        return self.identity or self.target


@dataclass(frozen=True)
class Result:
    command: str
    exit_code: int
    output: str  # stdout then stderr


class HostError(Exception):
    """Something went wrong on a host; carries the evidence."""

    def __init__(self, host: Host, message: str, command: str = "", output: str = ""):
        text = f"{host.name} ({host.target}): {message}"
        if command:
            text += f"\n  command: {command}"
        if output:
            text += f"\n  output:\n{output.rstrip()}"
        super().__init__(text)
        self.host, self.command, self.output = host, command, output


class Unreachable(HostError):
    """No SSH session could be set up (refused, timed out, no route, no banner)."""


class HostKeyRejected(HostError):
    """The host's key is unknown to known_hosts or differs from it."""


class AuthenticationFailed(HostError):
    """The host refused our key."""


class CommandTimedOut(HostError):
    """The command outlived its timeout and was stopped."""


class LocalSession:
    """Runs commands on this machine, without a shell."""

    def __init__(self, host: Host):
        self.host = host

    def run(self, argv: list[str], timeout: float) -> Result:
        command = shlex.join(argv)
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as expired:
            output = expired.output or ""
            output = output.decode(errors="replace") if isinstance(output, bytes) else output
            raise CommandTimedOut(self.host, f"timed out after {timeout:g} s", command, output) from None
        except OSError as error:
            return Result(command, 127, f"{argv[0]}: {error.strerror}")
        return Result(command, done.returncode, done.stdout)

    def close(self) -> None:
        pass


class SSHSession:
    """Runs commands on a host over one Fabric connection, opened on first use."""

    def __init__(self, host: Host):
        self.host = host
        self._connection = None

    def _connect(self):
        # Imported here: paramiko and fabric cost 0.15 s, which local hosts need not pay.
        import paramiko
        from fabric import Config, Connection

        host = self.host
        try:
            sock = socket.create_connection((host.ssh_host, host.port), host.connect_timeout)
        except OSError as error:
            raise Unreachable(host, f"cannot connect: {error}") from None
        # Fabric sends small commands; without NODELAY each waits on Nagle.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = Connection(
            host.ssh_host,
            user=host.user,
            port=host.port,
            # An explicit, empty ssh_config: ~/.ssh/config must not change what we measure.
            config=Config(ssh_config=paramiko.SSHConfig(), lazy=True),
            connect_kwargs={
                "key_filename": host.key,
                "look_for_keys": False,
                "allow_agent": False,
                "sock": sock,
                "timeout": host.connect_timeout,
                "banner_timeout": host.connect_timeout,
                "auth_timeout": host.connect_timeout,
            },
        )
        # Fabric accepts any host key unless told otherwise.
        connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        if host.known_hosts:
            connection.client.load_host_keys(host.known_hosts)
        try:
            connection.open()
        except (paramiko.SSHException, OSError) as error:
            # Close the transport before its socket, or its thread complains.
            connection.client.close()
            sock.close()
            raise self._connect_error(error) from None
        self._connection = connection

    def _connect_error(self, error: Exception) -> HostError:
        import paramiko

        host = self.host
        if isinstance(error, paramiko.BadHostKeyException):
            return HostKeyRejected(host, f"host key differs from the one in {host.known_hosts}: refusing")
        if isinstance(error, paramiko.AuthenticationException):
            return AuthenticationFailed(host, f"key {host.key} was refused: {error}")
        if "not found in known_hosts" in str(error):
            return HostKeyRejected(host, f"host key is not in {host.known_hosts}: refusing")
        return Unreachable(host, f"SSH failed: {error}")

    def run(self, argv: list[str], timeout: float) -> Result:
        from invoke.exceptions import CommandTimedOut as InvokeTimedOut

        if self._connection is None:
            self._connect()
        command = shlex.join(argv)
        began = time.monotonic()
        try:
            done = self._connection.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
        except InvokeTimedOut as expired:
            output = expired.result.stdout + expired.result.stderr
            raise CommandTimedOut(self.host, f"timed out after {timeout:g} s", command, output) from None
        except (OSError, EOFError) as error:
            raise Unreachable(self.host, f"connection lost: {error}", command) from None
        if done.exited == -1 and time.monotonic() - began >= timeout:
            # invoke's timer closed the channel but lost the race to report it.
            output = done.stdout + done.stderr
            raise CommandTimedOut(self.host, f"timed out after {timeout:g} s", command, output)
        return Result(command, done.exited, done.stdout + done.stderr)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def open_session(host: Host) -> LocalSession | SSHSession:
    return LocalSession(host) if host.is_local else SSHSession(host)


def shell(script: str, *args: str) -> list[str]:
    """argv that runs a fixed sh script with positional arguments: data never becomes code."""
    return ["sh", "-c", script, "sh", *args]
