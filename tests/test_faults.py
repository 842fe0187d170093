"""The fault matrix: a run on misbehaving hosts names what failed, keeps every other
measurement, leaves no partial file, and a rerun after the fault measures only what is missing.

Faults are real (netserver killed or frozen, sshd frozen, wrong keys, a full filesystem,
signals to Snakemake). Where a misbehaving binary is needed, it is a named fake: a small
shell wrapper around the real netperf or netserver.
"""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from vnetbench import netserver
from vnetbench.cell import CellFailed
from vnetbench.hosts import Unreachable
from vnetbench.model import Cell, Host, Platform, RunSettings

from .conftest import cell_jobs, free_port, pids_of, tiny_config
from .test_cell import run_cell
from .test_testbed import EMBEDDED, leftovers

pytestmark = pytest.mark.slow


def valid_records(workflow) -> list[dict]:
    """Every record parses and is complete; no temporary file is left anywhere in results/."""
    records = [json.loads(path.read_text()) for path in workflow.records()]
    for record in records:
        assert record["throughput_mbit_s"] > 0 and record["raw_output"]
    assert not list((workflow.directory / "results").rglob(".tmp-*"))
    return records


def summary(done) -> str:
    lines = done.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if " cells: " in line and line.startswith("vnetbench:"))
    return "\n".join(lines[start : start + 25])


def wrapper(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def netserver_pid(port: int) -> int:
    host = Host("native server", "local", address="127.0.0.1", netserver_port=port)
    return int(Path(netserver.pidfile(host)).read_text())


# 1. netserver killed mid-sweep


def test_killed_netserver_is_restarted_and_the_cell_retried(workflow):
    config = tiny_config(repetitions=3, run_length=None)  # timed: cells that last
    port = config["platforms"]["native"]["server"]["netserver_port"]
    workflow.write_config(config)

    def kill_after_first_record():
        deadline = time.monotonic() + 60
        while not workflow.records() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(netserver_pid(port), signal.SIGKILL)

    killer = threading.Thread(target=kill_after_first_record)
    killer.start()
    done = workflow.run()
    killer.join()
    records = valid_records(workflow)
    assert len(records) == 9
    assert max(record["attempts"] for record in records) == 2  # one cell restarted netserver
    assert "9 done, 0 failed, 0 not yet run" in summary(done)


def test_netserver_that_cannot_restart_fails_cleanly_then_rerun_finishes(workflow, tmp_path):
    allowed = tmp_path / "netserver-may-start"
    allowed.touch()
    fake = wrapper(tmp_path / "netserver", f'[ -e {allowed} ] || exit 1\nexec netserver "$@"\n')
    config = tiny_config(repetitions=3, run_length=None)  # timed: cells that last
    config["platforms"]["native"]["server"]["netserver"] = fake
    port = config["platforms"]["native"]["server"]["netserver_port"]
    workflow.write_config(config)

    def break_after_two_records():
        deadline = time.monotonic() + 60
        while len(workflow.records()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        allowed.unlink()
        os.kill(netserver_pid(port), signal.SIGKILL)

    breaker = threading.Thread(target=break_after_two_records)
    breaker.start()
    done = workflow.run(check=False)
    breaker.join()
    assert done.returncode != 0
    records = valid_records(workflow)
    failed = 9 - len(records)
    assert failed >= 6
    text = summary(done)
    assert f"{len(records)} done, {failed} failed, 0 not yet run" in text
    assert "failed: results/raw/native/" in text and "(log: results/logs/cells/native/" in text
    assert "to measure the failed cells' blocks again: python -m vnetbench prepare" in text
    log = next((workflow.directory / "results/logs/cells").rglob("*.log")).parent
    assert any("could not start netserver" in p.read_text() for p in log.parent.rglob("*.log"))
    # Without the explicit step, a run measures nothing again: a failed cell's record stands.
    assert "block" not in workflow.planned()

    allowed.touch()
    workflow.prepare()
    done = workflow.run()
    assert cell_jobs(done) == failed
    assert len(valid_records(workflow)) == 9


# 2. netserver frozen


def test_frozen_netserver_times_out_and_netperf_is_killed(netserver_port, tmp_path):
    pid = min(pids_of("netserver", netserver_port))  # the listener, not a per-test child
    platform = Platform(
        "native",
        "loopback",
        Host("native client", "local"),
        Host("native server", "local", address="127.0.0.1", netserver_port=netserver_port),
    )
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        with pytest.raises(CellFailed, match="killed after 3 s"):
            run_cell(Cell("native", "TCP_RR", 1, 1), platform, RunSettings(2, 2), {}, str(tmp_path / "r"))
        assert time.monotonic() - began < 6  # duration + margin, far below netperf's own 120 s
        assert not pids_of("netperf", netserver_port)
        assert not (tmp_path / "r").exists()
    finally:
        os.kill(pid, signal.SIGCONT)


# 3. the server host becomes unreachable


def test_unreachable_server_host_times_out_and_is_named(sshd, tmp_path):
    spec = sshd.host_spec()
    server = Host(
        "native server", "127.0.0.1", port=spec["port"], key=spec["key"], known_hosts=spec["known_hosts"],
        address="127.0.0.1", netserver_port=free_port(), connect_timeout=2,
    )  # fmt: skip
    platform = Platform("native", "ssh", Host("native client", "local"), server)
    os.kill(sshd.process.pid, signal.SIGSTOP)  # the host stops answering; no netserver either
    try:
        began = time.monotonic()
        with pytest.raises(Unreachable, match=rf"native server \(root@127.0.0.1:{spec['port']}\)"):
            run_cell(Cell("native", "TCP_RR", 1, 1), platform, RunSettings(5, 2), {}, str(tmp_path / "r"))
        assert time.monotonic() - began < 8
    finally:
        os.kill(sshd.process.pid, signal.SIGCONT)


# 4 and 5: preflight catches wrong keys, changed host keys, missing netperf, version skew


def ssh_client_config(sshd, **client_changes) -> dict:
    config = tiny_config()
    config["platforms"]["native"]["client"] = sshd.host_spec(**client_changes)
    return config


@pytest.mark.parametrize(
    "fault, expected",
    [
        ("wrong key", "was refused"),
        ("changed host key", "host key differs"),
        ("unknown host key", "host key is not in"),
        ("netperf missing", "/opt/none/netperf not found"),
        ("version differs", "netperf 2.6.0 on the client but netserver 2.7.0 on the server"),
    ],
)
def test_preflight_stops_the_run_before_any_cell(workflow, sshd, tmp_path, fault, expected):
    from vnetbench.sshd import generate_key

    if fault == "wrong key":
        config = ssh_client_config(sshd, key=str(generate_key(tmp_path / "wrong")))
    elif fault in ("changed host key", "unknown host key"):
        known = tmp_path / "known"
        if fault == "changed host key":
            other = generate_key(tmp_path / "other_host")
            kind, key = Path(f"{other}.pub").read_text().split()[:2]
            known.write_text(f"[127.0.0.1]:{sshd.server.port} {kind} {key}\n")
        else:
            known.write_text("")
        config = ssh_client_config(sshd, known_hosts=str(known))
    elif fault == "netperf missing":
        config = ssh_client_config(sshd, netperf="/opt/none/netperf")
    else:
        old = wrapper(tmp_path / "netperf", 'case "$1" in -V) echo "Netperf version 2.6.0"; exit 0;; esac\n')
        config = ssh_client_config(sshd, netperf=old)
    workflow.write_config(config)
    done = workflow.run(check=False)
    assert done.returncode != 0
    assert "preflight found 1 problem(s)" in done.stderr and expected in done.stderr
    assert "Nothing was measured." in done.stderr
    assert "6 cells: 0 done, 0 failed, 6 not yet run" in done.stderr
    assert workflow.records() == []
    report = json.loads((workflow.directory / "results" / "preflight.json").read_text())
    assert len(report["problems"]) == 1 and expected in report["problems"][0]
    assert "rule cell:" not in done.stdout + done.stderr


# 6. garbage or truncated output: see test_workflow.test_failing_cell_does_not_stop_the_others...


def test_truncated_output_fails_the_cell_with_the_output_in_its_log(workflow, tmp_path):
    fake = wrapper(
        tmp_path / "netperf",
        'case " $* " in *" -r 64,64 "*) netperf "$@" | head -n 5; exit 0;; esac\nexec netperf "$@"\n',
    )
    config = tiny_config()
    config["platforms"]["native"]["client"]["netperf"] = fake
    workflow.write_config(config)
    done = workflow.run(check=False)
    assert done.returncode != 0
    log = (workflow.directory / "results/logs/cells/native/TCP_RR/64/1.log").read_text()
    assert "netperf output lacks" in log and "TRANSACTION_RATE=" in log
    assert len(valid_records(workflow)) == 4
    assert "4 done, 2 failed, 0 not yet run" in summary(done)


# 7. SIGINT or SIGTERM reaches Snakemake mid-run (on the embedded testbed)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the embedded testbed needs root")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_tears_down_and_the_next_run_resumes(workflow, signum):
    from vnetbench import testbed

    config = tiny_config(testbed="embedded", platforms=EMBEDDED, repetitions=3, run_length=None)
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1], "title": "TCP"}}
    workflow.write_config(config)
    run = workflow.start()
    deadline = time.monotonic() + 60
    while len(workflow.records()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signum)
    output, _ = run.communicate(timeout=60)
    assert run.returncode != 0, output
    assert leftovers(testbed.for_workdir(workflow.directory)) == []
    partial = len(valid_records(workflow))
    assert 2 <= partial < 9
    assert "not yet run" in output
    done = workflow.run()  # no --unlock needed after a signal
    assert cell_jobs(done) <= 9 - partial + 1  # at most the interrupted cell again
    assert len(valid_records(workflow)) == 9


# 8. the results filesystem fills up


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_results_filesystem_fails_cells_and_keeps_earlier_results(workflow):
    results = workflow.directory / "results"
    results.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "vnetbench-test", str(results)], check=True)
    try:
        config = tiny_config()
        workflow.write_config(config)
        workflow.run()
        before = {path: path.read_bytes() for path in workflow.records()}
        assert len(before) == 6

        config["figures"]["udp_small"]["sizes"] = [16, 32, 48]
        workflow.write_config(config)
        filler = results / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)
        done = workflow.run(check=False)
        assert done.returncode != 0
        assert {path: path.read_bytes() for path in workflow.records()} == before  # intact
        valid_records(workflow)
        assert "6 done, 4 failed, 0 not yet run" in summary(done)

        filler.unlink()
        done = workflow.run()
        assert cell_jobs(done) == 4
        assert len(valid_records(workflow)) == 10
    finally:
        subprocess.run(["umount", "-l", str(results)], check=True)
