"""Starting netserver: ready means listening, within a bound, or a clear failure.

A slow host (an emulated guest on a busy machine) is played by a named fake: a script called
netserver that waits before it becomes the real one (exec keeps its pid).
"""

import os
import socket
import time
from pathlib import Path

import pytest
from vnetbench import netserver
from vnetbench.hosts import open_session
from vnetbench.model import Host

from .conftest import free_port, pids_of
from .test_faults import wrapper


def running_from(directory) -> list[str]:
    """Live processes whose command line names `directory` (the fake netserver)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(directory) in cmdline and state != "Z":
            found.append(cmdline)
    return found


def local_server(binary: str) -> Host:
    return Host("native server", "local", address="127.0.0.1", netserver_port=free_port(), netserver=binary)


def test_a_slow_netserver_is_waited_for_until_it_listens(tmp_path):
    host = local_server(wrapper(tmp_path / "netserver", 'sleep 6\nexec netserver "$@"\n'))
    session = open_session(host)
    try:
        outcome = netserver.ensure(session, host)
        assert outcome.startswith("started ") and outcome.split()[1].isdigit(), outcome
        # Ready means listening: a connection succeeds at once.
        socket.create_connection(("127.0.0.1", host.netserver_port), timeout=1).close()
    finally:
        netserver.stop(session, host)
    assert not pids_of("netserver", host.netserver_port)


def test_a_netserver_that_never_listens_fails_naming_port_and_bound(tmp_path):
    host = local_server(wrapper(tmp_path / "netserver", 'sleep 60\nexec netserver "$@"\n'))
    began = time.monotonic()
    with pytest.raises(netserver.NetserverError) as failure:
        netserver.ensure(open_session(host), host, listen_timeout=2)
    assert time.monotonic() - began < 8
    assert f"was not listening on port {host.netserver_port} after 2 s" in str(failure.value)
    # It was stopped, with whatever it had started (its whole process group).
    time.sleep(0.2)
    assert not running_from(tmp_path) and not pids_of("sleep", 60)


def test_another_programs_listener_on_the_port_is_not_taken_for_ours(tmp_path):
    host = local_server("netserver")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", host.netserver_port))
        blocker.listen()
        with pytest.raises(netserver.NetserverError, match=f"is port {host.netserver_port} in use"):
            netserver.ensure(open_session(host), host)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="real-time priority needs root")
def test_the_probes_netserver_runs_at_real_time_priority_beside_the_plain_one():
    """RRUL's probes: a second netserver, at its own port, SCHED_FIFO at the priority asked; the
    plain one stays as it was. Each is stopped by its own pid."""
    host = local_server("netserver")
    probes = host.probes_netserver()
    assert probes.netserver_port == host.netserver_port + 1
    session = open_session(host)
    try:
        plain = int(netserver.ensure(session, host).split()[1])
        fast = int(netserver.ensure(session, probes, priority=20).split()[1])
        assert os.sched_getscheduler(fast) == os.SCHED_FIFO
        assert os.sched_getparam(fast).sched_priority == 20
        assert os.sched_getscheduler(plain) == os.SCHED_OTHER
        socket.create_connection(("127.0.0.1", probes.netserver_port), timeout=1).close()
    finally:
        netserver.stop(session, probes)
        netserver.stop(session, host)
    assert not pids_of("netserver", host.netserver_port) and not pids_of("netserver", probes.netserver_port)
