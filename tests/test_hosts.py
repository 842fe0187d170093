"""Running commands on hosts: locally and over a real sshd with strict host keys."""

import dataclasses
import os
import signal
from pathlib import Path

import pytest
from vnetbench.hosts import (
    AuthenticationFailed,
    CommandTimedOut,
    HostKeyRejected,
    KeptShell,
    Unreachable,
    open_session,
)
from vnetbench.model import Host
from vnetbench.sshd import generate_key

from .conftest import free_port, stop

HOSTILE = [
    "a b",
    "'; touch {sentinel}; '",
    "$(touch {sentinel})",
    "`touch {sentinel}`",
    "x\ny",
    "*",
    "&&",
    "|",
]


def ssh_host(sshd, **changes) -> Host:
    spec = sshd.host_spec()
    host = Host(
        name="test host",
        ssh_host=spec["host"],
        port=spec["port"],
        key=spec["key"],
        known_hosts=spec["known_hosts"],
    )
    return dataclasses.replace(host, **changes)


def test_local_session_runs_argv_without_shell(tmp_path):
    sentinel = tmp_path / "pwned"
    args = [arg.format(sentinel=sentinel) for arg in HOSTILE]
    session = open_session(Host("me", "local"))
    result = session.run(["printf", "%s\n", *args], timeout=5)
    assert result.exit_code == 0
    assert result.output.split("\n")[: len(args) + 1] == "\n".join(args).split("\n")
    assert not sentinel.exists()


def test_local_timeout_is_typed():
    with pytest.raises(CommandTimedOut, match="timed out after 0.2 s"):
        open_session(Host("me", "local")).run(["sleep", "5"], timeout=0.2)


def test_local_missing_binary_is_exit_127():
    assert open_session(Host("me", "local")).run(["/nonexistent/netperf"], timeout=5).exit_code == 127


def test_ssh_runs_commands_and_quotes_every_argument(sshd, tmp_path):
    sentinel = tmp_path / "pwned"
    args = [arg.format(sentinel=sentinel) for arg in HOSTILE]
    session = open_session(ssh_host(sshd))
    try:
        result = session.run(["printf", "%s\n", *args], timeout=10)
        assert result.exit_code == 0
        assert result.output == "".join(f"{arg}\n" for arg in args)
        failing = session.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
        assert (failing.exit_code, failing.output) == (3, "out\nerr\n")
    finally:
        session.close()
    assert not sentinel.exists()


def test_ssh_timeout_is_typed(sshd):
    session = open_session(ssh_host(sshd))
    try:
        with pytest.raises(CommandTimedOut):
            session.run(["sleep", "5"], timeout=1)
    finally:
        session.close()


def test_unknown_host_key_is_refused(sshd, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyRejected, match="not in .*empty_known_hosts: refusing"):
        open_session(ssh_host(sshd, known_hosts=str(empty))).run(["true"], timeout=5)


def test_changed_host_key_is_refused(sshd, tmp_path):
    other = generate_key(tmp_path / "other_host_key")
    kind, key = (tmp_path / "other_host_key.pub").read_text().split()[:2]
    changed = tmp_path / "changed_known_hosts"
    changed.write_text(f"[127.0.0.1]:{sshd.server.port} {kind} {key}\n")
    assert other.exists()
    with pytest.raises(HostKeyRejected, match="differs"):
        open_session(ssh_host(sshd, known_hosts=str(changed))).run(["true"], timeout=5)


def test_wrong_client_key_is_refused(sshd, tmp_path):
    wrong = generate_key(tmp_path / "wrong_key")
    with pytest.raises(AuthenticationFailed, match="wrong_key was refused"):
        open_session(ssh_host(sshd, key=str(wrong))).run(["true"], timeout=5)


def test_closed_port_names_the_host():
    host = Host("server of native", "127.0.0.1", port=free_port(), key="/dev/null", known_hosts="/dev/null")
    with pytest.raises(Unreachable, match=r"server of native \(root@127.0.0.1:\d+\): cannot connect"):
        open_session(host).run(["true"], timeout=5)


def test_a_kept_shell_quotes_every_argument_and_keeps_exit_codes(sshd, tmp_path):
    sentinel = tmp_path / "pwned"
    args = [arg.format(sentinel=sentinel) for arg in HOSTILE]
    shell = KeptShell(ssh_host(sshd))
    try:
        result = shell.run(["printf", "%s\n", *args], timeout=10)
        assert (result.exit_code, result.output) == (0, "".join(f"{arg}\n" for arg in args))
        failing = shell.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
        assert (failing.exit_code, failing.output) == (3, "out\nerr\n")
        # A command that reads stdin must not eat the shell's next commands.
        assert shell.run(["cat"], timeout=10).output == ""
        assert shell.run(["echo", "still here"], timeout=10).output == "still here\n"
    finally:
        shell.close()
    assert not sentinel.exists()


def test_a_dead_connection_never_fails_a_command_a_new_one_can_run(sshd):
    def parent_of(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    shell = KeptShell(ssh_host(sshd))
    try:
        kept = int(shell.run(["sh", "-c", "echo $PPID"], timeout=10).output)  # the kept shell
        os.kill(parent_of(kept), signal.SIGKILL)  # its sshd session: the connection drops
        again = int(shell.run(["sh", "-c", "echo $PPID"], timeout=10).output)
        assert again != kept  # another shell, on a new connection
        # With the server gone for good, the failure names the host.
        stop(sshd.process)
        os.kill(parent_of(again), signal.SIGKILL)
        with pytest.raises(Unreachable, match=r"test host \(root@127.0.0.1:\d+\)"):
            shell.run(["true"], timeout=5)
    finally:
        shell.close()


def test_a_kept_shell_times_out_typed_and_starts_afresh(sshd):
    shell = KeptShell(ssh_host(sshd))
    try:
        with pytest.raises(CommandTimedOut, match="timed out after 1 s"):
            shell.run(["sleep", "5"], timeout=1)
        assert shell.run(["echo", "ok"], timeout=10).output == "ok\n"
    finally:
        shell.close()
