"""Running commands on hosts: this machine directly, or any other over SSH with Fabric.

Every kind sits behind one small interface, `.run(argv, timeout) -> Result`:
`open_session(host)` for a few commands, `KeptShell(host)` for a run's many. Commands are
argument lists; over SSH they are joined with shell quoting, so no config text ever reaches
a remote shell unquoted. Host keys are checked strictly against the configured known_hosts
file: an unknown or changed key is refused.
"""

import secrets
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass

from .errors import VnetbenchError
from .model import Host


@dataclass(frozen=True)
class Result:
    command: str
    exit_code: int
    output: str  # stdout then stderr


class HostError(VnetbenchError):
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

    def open_channel(self):
        """A new session channel on this connection (connecting first if needed)."""
        import paramiko

        if self._connection is None:
            self._connect()
        try:
            channel = self._connection.create_session()
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise Unreachable(self.host, f"cannot open a session: {error}") from None
        channel.set_combine_stderr(True)
        return channel

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def open_session(host: Host) -> LocalSession | SSHSession:
    return LocalSession(host) if host.is_local else SSHSession(host)


class _ShellLost(Exception):
    """The kept shell or its connection went away."""


class KeptShell:
    """One `sh` kept open on a host over one SSH connection, for a run's many commands.

    Each command is written to the shell's stdin and its output read back up to an end
    marker that carries the exit code: a command then costs no new SSH session (about 90 ms
    on an OpenSSH server, more on an emulated guest's dropbear). A shell found dead (the host
    rebooted, the connection dropped) is replaced by a new connection and the command run on
    it, so a dead connection never fails a command that a new one can run. Local hosts need
    no shell: their commands run directly.
    """

    def __init__(self, host: Host):
        self.host = host
        self._ssh: SSHSession | None = None
        self._channel = None

    def run(self, argv: list[str], timeout: float) -> Result:
        if self.host.is_local:
            return LocalSession(self.host).run(argv, timeout)
        command = shlex.join(argv)
        reused = self._channel is not None
        try:
            return self._run(command, timeout)
        except _ShellLost as lost:
            self.close()
            if not reused:
                raise Unreachable(self.host, f"connection lost: {lost}", command) from None
        try:
            return self._run(command, timeout)  # on a new connection
        except _ShellLost as lost:
            self.close()
            raise Unreachable(
                self.host, f"connection lost, and again on a new one: {lost}", command
            ) from None

    def _run(self, command: str, timeout: float) -> Result:
        if self._channel is None:
            import paramiko

            self._ssh = SSHSession(self.host)
            self._channel = self._ssh.open_channel()  # HostError if the host is unreachable
            try:
                self._channel.exec_command("exec sh")
            except (paramiko.SSHException, OSError, EOFError) as error:
                raise _ShellLost(error) from None
        marker = secrets.token_hex(8)
        # stdin from /dev/null: the command must not read the shell's next commands.
        script = f"{command} </dev/null 2>&1; printf '\\n%s %s\\n' {marker} \"$?\"\n"
        end = f"\n{marker} ".encode()
        try:
            self._channel.sendall(script.encode())
        except (OSError, EOFError) as error:
            raise _ShellLost(error) from None
        deadline = time.monotonic() + timeout
        received = b""
        while True:
            at = received.find(end)
            if at >= 0 and received.find(b"\n", at + len(end)) >= 0:
                code = received[at + len(end) :].split(b"\n", 1)[0]
                return Result(command, int(code), received[:at].decode(errors="replace"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()  # the shell may be stuck in the command: start afresh next time
                output = received.decode(errors="replace")
                raise CommandTimedOut(self.host, f"timed out after {timeout:g} s", command, output)
            self._channel.settimeout(remaining)
            try:
                data = self._channel.recv(65536)
            except TimeoutError:
                continue
            except (OSError, EOFError) as error:
                raise _ShellLost(error) from None
            if not data:
                raise _ShellLost("the shell exited")
            received += data

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._ssh is not None:
            self._ssh.close()
            self._ssh = None


def shell(script: str, *args: str) -> list[str]:
    """argv that runs a fixed sh script with positional arguments: data never becomes code."""
    return ["sh", "-c", script, "sh", *args]
