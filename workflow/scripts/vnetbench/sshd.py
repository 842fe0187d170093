"""A private OpenSSH server: generated keys, its own config, started and stopped by pid.

Used by the embedded testbed (one per host namespace) and by the tests. It
accepts only the generated client key: no passwords, no empty passwords.
"""

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import VnetbenchError

SSHD = "/usr/sbin/sshd"

_CONFIG = """\
ListenAddress {address}
Port {port}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized_keys}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
UsePAM no
# The state directory may sit under a world-readable /tmp.
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
LogLevel ERROR
"""


class SSHDError(VnetbenchError):
    """An sshd did not start or never listened."""


def generate_key(path: Path, comment: str = "vnetbench") -> Path:
    """An ed25519 key pair at `path` (private, mode 0600) and `path`.pub, unless present."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        except OSError as error:
            raise SSHDError(f"cannot generate an SSH key: {argv[0]}: {error.strerror}") from None
        if done.returncode != 0:
            raise SSHDError(f"ssh-keygen failed (exit {done.returncode}): {done.stdout}{done.stderr}".strip())
    os.chmod(path, 0o600)
    return path


def known_hosts_line(address: str, port: int, host_key_pub: Path) -> str:
    kind, key = Path(host_key_pub).read_text().split()[:2]
    name = address if port == 22 else f"[{address}]:{port}"
    return f"{name} {kind} {key}\n"


@dataclass
class SSHServer:
    """One sshd: where it listens and the files it uses (all under `directory`)."""

    directory: Path
    address: str
    port: int
    client_key: Path  # whose public half is the only authorized key
    environment: dict = field(default_factory=dict)  # set in every session (SetEnv)

    @property
    def host_key(self) -> Path:
        return self.directory / "ssh_host_ed25519_key"

    @property
    def config_file(self) -> Path:
        return self.directory / "sshd_config"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        generate_key(self.host_key, comment=f"vnetbench-host-{self.address}")
        authorized = self.directory / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        os.chmod(authorized, 0o600)
        self.config_file.write_text(
            _CONFIG.format(
                address=self.address,
                port=self.port,
                host_key=self.host_key,
                authorized_keys=authorized,
            )
            + "".join(f"SetEnv {name}={value}\n" for name, value in self.environment.items())
        )

    def known_hosts_line(self) -> str:
        return known_hosts_line(self.address, self.port, Path(f"{self.host_key}.pub"))

    def command(self) -> list[str]:
        # -D: stay in the foreground, so the pid we hold is sshd's own.
        return [SSHD, "-D", "-e", "-f", str(self.config_file)]

    def start(self, prefix: list[str] = (), log: Path | None = None) -> subprocess.Popen:
        """Start sshd (optionally under `prefix`, e.g. `ip netns exec NS`) and wait until it listens."""
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir
        with open(log or os.devnull, "ab") as out:
            return subprocess.Popen(
                [*prefix, *self.command()],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def answers_ssh(address: str, port: int) -> bool:
    """Whether an SSH server answers at address:port now (its banner, not only a listening
    socket: a guest's or sandbox's port may accept before its sshd runs)."""
    try:
        with socket.create_connection((address, port), timeout=0.5) as connection:
            connection.settimeout(2)
            return connection.recv(4).startswith(b"SSH")
    except OSError:
        return False


def wait_listening(
    address: str, port: int, timeout: float = 10.0, connect=None, process=None, log: Path | None = None
) -> None:
    """Wait until something accepts TCP connections at address:port; SSHDError when it does
    not within `timeout`, or at once when `process` (the server) exits, with its `log`."""
    deadline = time.monotonic() + timeout
    connect = connect or (lambda: socket.create_connection((address, port), timeout=0.5).close())
    while True:
        try:
            connect()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                evidence = log.read_text(errors="replace").strip() if log and log.exists() else ""
                raise SSHDError(
                    f"the sshd for {address}:{port} exited with code {process.returncode}"
                    + (f":\n{evidence}" if evidence else "")
                ) from None
            if time.monotonic() > deadline:
                raise SSHDError(f"nothing listens on {address}:{port} after {timeout:g} s") from None
            time.sleep(0.05)
