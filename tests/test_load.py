"""Cells of concurrent netperfs (vnetbench.load): the parser on outputs of real cells (tests/data,
captured from the lab: an RRUL cell of 2 flows each way on bridge_nat, two parallel TCP_STREAM
flows on native, an RRUL cell of 4 each way on wireguard-go with a starved flow), the checks of
the flows' windows, the config's and preflight's refusals, and one real run of the workflow on
the embedded testbed."""

import json
import os
import re
import stat

import pytest
from vnetbench import load, preflight
from vnetbench.config import ConfigError, load_experiment
from vnetbench.hosts import LocalSession
from vnetbench.model import Host, Measurement, split_test, with_flows
from vnetbench.netperf import NetperfOutputError

from .conftest import DATA, leftovers, pids_of

RRUL = (DATA / "rrul_x2_bridge_nat.out").read_text()
STREAMS = (DATA / "tcp_stream_x2_native.out").read_text()
# A RRUL cell of 4 flows each way on wireguard-go (a `make load` run) in which down3 moved
# nothing in its 5 s: it printed no interim result; its line says when its netperf ended.
STARVED = (DATA / "rrul_x4_wireguard_starved.out").read_text()
# Seconds two probes in turn may overlap: each waits (-s) from its own set-up, and a TCP probe
# whose set-up beside the flows' took longer ends later (0.19 s seen in CI); side by side they
# overlap by their whole second. A window's start is also a 0.05-s estimate.
PROBE_OVERLAP_S = 0.5


def test_a_test_names_its_flows():
    assert split_test("TCP_STREAMx8") == ("TCP_STREAM", 8)
    assert split_test("RRULx4") == ("RRUL", 4)
    assert split_test("RRUL") == ("RRUL", 1)
    assert split_test("TCP_RR") == ("TCP_RR", 1)
    assert split_test("UDP_RRx4") == ("UDP_RRx4", 1)  # not a parallel test: no flows, refused later
    assert with_flows("TCP_RR", 1) == "TCP_RR"
    assert with_flows("TCP_RR", 2) == "TCP_RRx2"


def test_rrul_latency_inflation_is_the_probe_under_load_over_idle():
    result, kept = load.parse("RRULx2", 1, RRUL)
    jobs = kept["load"]["jobs"]
    assert sorted(jobs) == ["down1", "down2", "idle_tcp", "idle_udp", "probe_tcp", "probe_udp", "up1", "up2"]
    idle_rate, loaded_rate = jobs["idle_tcp"]["rate"], jobs["probe_tcp"]["rate"]
    assert kept["idle_latency_us"] == pytest.approx(1e6 / idle_rate)
    assert kept["probe_latency_us"] == pytest.approx(1e6 / loaded_rate)
    assert kept["latency_inflation"] == pytest.approx(idle_rate / loaded_rate)
    assert kept["latency_inflation"] > 2  # this cell's probe: 12.3 us idle, 86 us under load
    # The flows' rates each way, from their own final THROUGHPUT lines.
    ups = [float(v) for v in re.findall(r"vnetbench-job up\d 0\n(?:.*\n)*?THROUGHPUT=([\d.]+)", RRUL)]
    assert kept["upload_mbit_s"] == pytest.approx(sum(ups))
    assert result.throughput_mbit_s == pytest.approx(kept["upload_mbit_s"] + kept["download_mbit_s"])
    # The probe's percentiles under load are netperf's histogram's.
    assert result.latency_us["p99"] > result.latency_us["p50"] > 0
    # Every flow covered the probes' window, which is what made the cell valid.
    probes = [jobs["probe_tcp"]["window_s"], jobs["probe_udp"]["window_s"]]
    for name in ("up1", "up2", "down1", "down2"):
        start, end = jobs[name]["window_s"]
        assert start <= min(p[0] for p in probes) and end >= max(p[1] for p in probes)
        assert len(jobs[name]["series"]) >= 10  # 3 s at 0.2 s


def test_parallel_flows_are_summed():
    result, kept = load.parse("TCP_STREAMx2", 65536, STREAMS)
    rates = [float(v) for v in re.findall(r"^THROUGHPUT=([\d.]+)", STREAMS, re.M)]
    assert len(rates) == 2
    assert result.throughput_mbit_s == pytest.approx(sum(rates))
    assert kept["load"]["flows"] == 2


def _shift_endings(text: str, job: str, seconds: float) -> str:
    """`text` with the interim timestamps of `job` moved by `seconds`."""
    head, marker, rest = text.partition(f"vnetbench-job {job} 0\n")
    body, next_marker, tail = rest.partition("vnetbench-job ")
    body = re.sub(r"NETPERF_ENDING\[(\d+)\]=([\d.]+)",
                  lambda m: f"NETPERF_ENDING[{m[1]}]={float(m[2]) + seconds:.3f}", body)  # fmt: skip
    return head + marker + body + next_marker + tail


def test_a_flow_that_ended_before_the_probes_fails_the_cell_with_every_window():
    late = _shift_endings(RRUL, "down2", -2.5)
    with pytest.raises(
        NetperfOutputError, match=r"flows down2 did not run throughout the probes' window"
    ) as error:
        load.parse("RRULx2", 1, late)
    assert "probe_tcp" in str(error.value) and "up1" in str(error.value)


def test_parallel_flows_that_did_not_overlap_fail_the_cell():
    apart = _shift_endings(STREAMS, "flow2", 5.0)
    with pytest.raises(NetperfOutputError, match=r"the flows ran together 0.00 s, less than 90%"):
        load.parse("TCP_STREAMx2", 65536, apart)


def test_flows_apart_are_told_from_other_failures():
    """What the cell measures again at once (vnetbench.cell): flows that ran apart, and nothing
    else; a failed flow is the record's failure, not a reason to measure again."""
    assert load.apart("TCP_STREAMx2", 65536, STREAMS) is None
    assert load.apart("RRULx2", 1, RRUL) is None
    why = load.apart("TCP_STREAMx2", 65536, _shift_endings(STREAMS, "flow2", 5.0))
    assert why.startswith("the flows ran together 0.00 s") and "flow2 5." in why
    assert "did not run throughout" in load.apart("RRULx2", 1, _shift_endings(RRUL, "down2", -2.5))
    failed = STREAMS.replace("vnetbench-job flow2 0", "vnetbench-job flow2 1")
    assert failed != STREAMS and load.apart("TCP_STREAMx2", 65536, failed) is None


NO_INTERIM = (
    r"flow1 printed no interim results: it moved [1-9]\d* bytes in 1 s, so this netperf has no demo mode"
)


def test_a_netperf_without_demo_mode_fails_the_cell_naming_it():
    plain = "\n".join(line for line in STREAMS.splitlines() if not line.startswith("NETPERF_"))
    with pytest.raises(
        NetperfOutputError,
        match=NO_INTERIM,
    ):
        load.parse("TCP_STREAMx2", 65536, plain)


def test_a_failed_flow_fails_the_cell():
    with pytest.raises(NetperfOutputError, match="flow2 exited 1"):
        load.parse("TCP_STREAMx2", 65536, STREAMS.replace("vnetbench-job flow2 0", "vnetbench-job flow2 1"))


def test_a_starved_flow_counts_at_zero_over_the_run_its_end_dates():
    """A flow that the others left nothing prints no interim result, but it ran: from when its
    netperf ended back over its elapsed time. The cell sums it as 0 and names it."""
    result, kept = load.parse("RRULx4", 1, STARVED)
    assert kept["load"]["starved"] == ["down3"]
    downs = [
        float(v) for v in re.findall(r"vnetbench-job down\d 0 \S+\n(?:.*\n)*?THROUGHPUT=([\d.]+)", STARVED)
    ]
    assert len(downs) == 4 and downs.count(0.0) == 1
    assert kept["download_mbit_s"] == pytest.approx(sum(downs)) and sum(downs) > 0
    jobs = kept["load"]["jobs"]
    start, end = jobs["down3"]["window_s"]
    assert end - start == pytest.approx(5.0) and jobs["down3"]["series"] == [[end, 5.0, 0.0]]
    # It covered the probes' window, as the flows that moved did.
    assert start <= jobs["probe_tcp"]["window_s"][0] and end >= jobs["probe_udp"]["window_s"][1]
    assert kept["latency_inflation"] > 1


def test_a_starved_flow_whose_end_is_not_known_fails_the_cell():
    """Without its end (an older command, a `date` without %N) nothing dates a starved flow's run."""
    unstamped = re.sub(r"^(vnetbench-job \S+ \d+) \S+$", r"\1", STARVED, flags=re.M)
    assert unstamped != STARVED
    with pytest.raises(NetperfOutputError, match=r"down3 printed no interim results: it moved 0 bytes"):
        load.parse("RRULx4", 1, unstamped)
    nonsense = re.sub(r"^(vnetbench-job \S+ \d+) \S+$", r"\1 %s.N", STARVED, flags=re.M)
    with pytest.raises(NetperfOutputError, match=r"down3 printed no interim results"):
        load.parse("RRULx4", 1, nonsense)


def test_a_stalled_udp_probe_is_no_value_never_a_number():
    """netperf's UDP_RR does not resend: after a lost datagram it completes nothing more and
    prints no interim result; its rate over the whole run is no latency of the path."""
    head, marker, rest = RRUL.partition("vnetbench-job probe_udp 0\n")
    endings = [float(v) for v in re.findall(r"NETPERF_ENDING\[\d+\]=([\d.]+)", rest)]
    cut = [line for line in rest.splitlines() if not re.match(r"NETPERF_\w+\[(\d+)\]", line)
           or int(re.match(r"NETPERF_\w+\[(\d+)\]", line)[1]) < len(endings) // 2]  # fmt: skip
    _, kept = load.parse("RRULx2", 1, head + marker + "\n".join(cut) + "\n")
    assert kept["udp_latency_inflation"] is None and kept["udp_probe_latency_us"] is None
    assert kept["load"]["stalled"] == ["probe_udp"]
    assert kept["latency_inflation"] is not None


def test_a_starved_probe_is_no_value_and_named():
    """A probe that completed no transaction beside the flows (wireguard-go under 8 flows did)
    prints no interim result: the cell stays valid, the probe has no latency."""
    head, marker, rest = RRUL.partition("vnetbench-job probe_udp 0\n")
    starved = "\n".join(
        "LOCAL_BYTES_RECVD=0" if line.startswith("LOCAL_BYTES_RECVD=")
        else "TRANSACTION_RATE=0.000" if line.startswith("TRANSACTION_RATE=")
        else line
        for line in rest.splitlines()
        if not line.startswith("NETPERF_")
    )  # fmt: skip
    _, kept = load.parse("RRULx2", 1, head + marker + starved + "\n")
    assert kept["load"]["starved"] == ["probe_udp"] and kept["load"]["jobs"]["probe_udp"]["window_s"] is None
    assert kept["udp_probe_latency_us"] is None and kept["udp_latency_inflation"] is None
    assert kept["latency_inflation"] > 1


def test_every_job_of_a_nat_server_has_its_own_published_port():
    m = Measurement("RRULx4", 1, 1, (), "c", "netperf", "198.18.12.2", 12866, data_port=12867)
    ports = {}
    for job in load.jobs(m):
        ports.setdefault(job.phase, []).append(int(job.argv[job.argv.index("-P", 3) + 1].lstrip(",")))
    # The idle probes run alone, then the load phase's 10 netperfs, each through its own port.
    assert ports == {"idle_tcp": [12875], "idle_udp": [12876], "load": list(range(12867, 12877))}
    assert load.concurrent_netperfs("RRULx4") == 10


def test_rrul_probes_take_turns_idle_and_under_load(tmp_path):
    """Side by side (and bound to CPUs) the TCP and UDP probes fell into lockstep, each timing the
    other: they run one after the other, the flows long enough to cover both."""
    m = load_experiment(_config(test="RRUL"), workdir=str(tmp_path)).measurement("native", "RRULx4", 1)
    assert m.as_params()["probes_in_turn"] is True
    jobs = {job.name: job for job in load.jobs(m)}
    assert [job.phase for job in load.jobs(m)][:2] == ["idle_tcp", "idle_udp"]  # two phases: in turn

    def wait(job):
        return int(job.argv[job.argv.index("-s") + 1])

    tcp, udp, up = jobs["probe_tcp"], jobs["probe_udp"], jobs["up1"]
    assert wait(udp) == wait(tcp) + m.duration and udp.seconds == tcp.seconds + m.duration
    assert up.seconds == udp.seconds + load.WARMUP_S  # the flows go on beyond the second probe
    # The mark that makes cells measured with the probes side by side (without it) run again;
    # the broker reads the tracked form back as the same measurement.
    assert Measurement.from_params(m.as_params()) == m
    streams = load_experiment(_config(test="TCP_STREAM", flows=[2]), workdir=str(tmp_path))
    assert "probes_in_turn" not in streams.measurement("native", "TCP_STREAMx2", 1).as_params()


def test_rrul_probes_run_at_real_time_priority_against_their_own_netserver(tmp_path):
    """By default (probe_priority 20) both probes of both phases run under chrt against the
    server's real-time netserver (bridge_nat's published at 12931), the flows as any process;
    with probe_priority null nothing runs under chrt. Both are what the cell measures."""
    experiment = load_experiment(_config(test="RRUL"), workdir=str(tmp_path))
    assert experiment.realtime_probes
    for platform, port in (("native", 12866), ("bridge_nat", 12931)):
        m = experiment.measurement(platform, "RRULx4", 1)
        assert (m.probe_priority, m.probe_netserver_port) == (20, port)
        for job in load.jobs(m):
            probe = job.name.startswith(("idle_", "probe_"))
            assert (job.argv[:3] == ("chrt", "-f", "20")) == probe, job.argv
            assert job.argv[job.argv.index("-p") + 1] == str(port if probe else m.netserver_port)
            # Bound (probe_cpus [0, 1]): the TCP probe's client on CPU 0 and server on CPU 1, the
            # UDP probe's the other way round; the flows unbound.
            cpus = {"TCP_RR": "0,1", "UDP_RR": "1,0"}.get(job.test) if probe else None
            assert (job.argv[job.argv.index("-T") + 1] if "-T" in job.argv else None) == cpus, job.argv
    plain = load_experiment(
        _config(test="RRUL") | {"probe_priority": None, "probe_cpus": None}, workdir=str(tmp_path)
    )
    m = plain.measurement("native", "RRULx4", 1)
    assert "probe_priority" not in m.as_params() and "probe_cpus" not in m.as_params()
    assert not any("chrt" in job.argv or "-T" in job.argv for job in load.jobs(m))
    # Only RRUL has probes: a parallel-flow cell measures what it did.
    streams = load_experiment(_config(test="TCP_STREAM", flows=[2]), workdir=str(tmp_path))
    assert not streams.realtime_probes
    assert not {"probe_priority", "probe_cpus"} & set(
        streams.measurement("native", "TCP_STREAMx2", 1).as_params()
    )


# --- bad input, before anything runs ---


def _config(**figure) -> dict:
    return {
        "testbed": "embedded",
        "duration": 1,
        "repetitions": 2,
        "platforms": {
            "native": {"label": "n", "embedded": "native"},
            "bridge_nat": {"label": "b", "embedded": "bridge_nat"},
        },  # fmt: skip
        "figures": {"load": {"sizes": [1], "title": "t", **figure}},
    }


def test_a_list_of_flows_makes_a_figure_per_count(tmp_path):
    experiment = load_experiment(_config(test="TCP_STREAM", flows=[1, 2, 8]), workdir=str(tmp_path))
    assert {name: f.test for name, f in experiment.figures.items()} == {
        "load_x1": "TCP_STREAMx1", "load_x2": "TCP_STREAMx2", "load_x8": "TCP_STREAMx8"}  # fmt: skip
    assert {f.scaling for f in experiment.figures.values()} == {"load"}
    rrul = load_experiment(_config(test="RRUL"), workdir=str(tmp_path))
    assert rrul.figures["load"].test == "RRULx4"  # Flent's RRUL: 4 flows each way


@pytest.mark.parametrize(
    "figure, message",
    [
        ({"test": "TCP_CRR", "flows": 2}, "figures.load.flows: TCP_CRR runs one flow per cell"),
        ({"test": "TCP_RR", "flows": 0},
         "figures.load.flows: 0 is not allowed (allowed: a number of flows from 1 to 64"),
        ({"test": "TCP_RR", "metric": "latency_inflation"},
         "figures.load.metric: TCP_RR has no probe under load"),
        ({"test": "RRUL", "extra_metrics": ["cpu"]},
         "figures.load.extra_metrics: RRUL always times its probes"),
        # bridge_nat's server publishes 64 data ports: RRUL with 32 flows each way needs 66.
        ({"test": "RRUL", "flows": 32},
         "figures.load.flows: RRULx32 runs 66 netperfs at once, each with its own data port, but platform"
         " bridge_nat's server publishes 64 (from port 12867)"),
    ],
)  # fmt: skip
def test_a_flow_count_that_cannot_be_served_is_one_line(tmp_path, figure, message):
    with pytest.raises(ConfigError) as error:
        load_experiment(_config(**figure), workdir=str(tmp_path))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_preflight_names_a_netperf_without_demo_mode(tmp_path):
    """A fake netperf (the real one here has demo mode): it answers -D as netperf built without
    --enable-demo does (its source's message, which Flent also checks) and -V as netperf 2.7.0."""
    fake = tmp_path / "netperf"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in -V) echo "Netperf version 2.7.0";; -D) echo "Sorry, Demo Mode not configured into this'
        ' netperf."; echo "Please consider reconfiguring netperf with";'
        ' echo "--enable-demo=yes and recompiling";;'
        " esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    host = Host("load client", "local", netperf=str(fake))
    facts, problems = preflight.host_facts(LocalSession(host), host, "127.0.0.1")
    assert facts["demo_mode"] == "no" and problems == []
    experiment = load_experiment(_config(test="RRUL", flows=2), workdir=str(tmp_path))
    platform = experiment.platforms["native"]
    found = preflight.concurrency_problems(experiment, platform, facts, {"mem_available_kb": "1000000"})
    assert found == [
        "platform native: RRULx2 needs netperf's interim results, but the client's netperf has no demo mode"
        " (-D): build it with --enable-demo (Debian's netperf has it)"
    ]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"probe_priority": 0}, "probe_priority: 0 is not allowed (allowed: a SCHED_FIFO priority from 1"),
        ({"probe_priority": 100}, "probe_priority: 100 is not allowed"),
        ({"probe_cpus": [0]}, "probe_cpus: [0] is not allowed (allowed: two CPU numbers [client, server]"),
        ({"probe_cpus": [0, -1]}, "probe_cpus.1: -1 is not allowed"),
    ],
)  # fmt: skip
def test_a_bad_probe_priority_is_named(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        load_experiment(_config(test="RRUL") | change, workdir=str(tmp_path))
    assert str(error.value).startswith(message), str(error.value)


def test_a_probes_netserver_on_netservers_own_port_is_named(tmp_path):
    config = _config(test="RRUL")
    server = {"host": "local", "address": "127.0.0.1", "netserver_port": 12865, "probe_netserver_port": 12865}
    config["testbed"] = "hosts"
    config["platforms"] = {"native": {"label": "n", "client": {"host": "local"}, "server": server}}
    with pytest.raises(ConfigError) as error:
        load_experiment(config, workdir=str(tmp_path))
    assert str(error.value).startswith(
        "platforms.native.server.probe_netserver_port: 12865 is netserver_port too"
    ), str(error.value)


def test_preflight_names_an_end_that_refuses_real_time_priority(tmp_path):
    experiment = load_experiment(_config(test="RRUL", flows=2), workdir=str(tmp_path))
    platform = experiment.platforms["native"]
    facts = {"demo_mode": "yes", "realtime": "yes"}
    found = preflight.concurrency_problems(experiment, platform, facts, {"realtime": "no"})
    assert found == [
        "platform native: RRUL's probes run at real-time priority (probe_priority: 20), which the server"
        " refuses (chrt -f needs root or CAP_SYS_NICE): run there as root, or probe_priority: null"
    ]
    plain = load_experiment(_config(test="RRUL", flows=2) | {"probe_priority": None}, workdir=str(tmp_path))
    assert preflight.concurrency_problems(plain, platform, facts, {"realtime": "no"}) == []


def test_preflight_names_a_probe_cpu_an_end_does_not_have(tmp_path):
    experiment = load_experiment(
        _config(test="RRUL", flows=2) | {"probe_cpus": [0, 3]}, workdir=str(tmp_path)
    )
    platform = experiment.platforms["native"]
    found = preflight.concurrency_problems(experiment, platform, {"cpus": "8"}, {"cpus": "2"})
    assert found == [
        "platform native: RRUL's probes are bound to CPUs 0 and 3 (probe_cpus), but the server has 2"
        " (0 to 1): other probe_cpus, or null"
    ]
    assert preflight.concurrency_problems(experiment, platform, {"cpus": "4"}, {"cpus": "4"}) == []


def test_preflight_names_too_few_ports_and_too_little_memory(tmp_path):
    experiment = load_experiment(_config(test="RRUL", flows=8), workdir=str(tmp_path))
    platform = experiment.platforms["native"]
    client = {
        "demo_mode": "yes",
        "local_ports": "20",
        "mem_available_kb": "100000",
        "tcp_buffer_max": str(10 << 20),
    }
    found = preflight.concurrency_problems(experiment, platform, client, {"mem_available_kb": "100000000"})
    assert found == [
        "platform native: RRULx8 opens 36 connections at once, but the client has 20 local ports "
        "(net.ipv4.ip_local_port_range)",
        "platform native: RRULx8's 18 connections may take 180 MB of socket buffers on the client"
        " (tcp_rmem + tcp_wmem maxima), which has 97 MB available: fewer flows, or smaller"
        " net.ipv4.tcp_rmem/tcp_wmem maxima",
    ]


# --- a real run ---


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_a_load_run_on_the_lab_measures_draws_and_leaves_nothing(workflow):
    """native and bridge_nat (NAT: each flow through its own published port): latency under load
    with 2 flows each way and 1 or 2 parallel bulk flows; every cell measured, the figures drawn."""
    config = _config(test="RRUL", flows=2, metric="latency_inflation") | {"repetitions": 1}
    config["figures"]["streams"] = {"test": "TCP_STREAM", "flows": [1, 2], "sizes": ["64K"], "title": "s",
                                    "extra_metrics": ["cpu"]}  # fmt: skip
    workflow.write_config(config)
    workflow.run("figures")
    records = [json.loads(path.read_text()) for path in workflow.records()]
    assert sorted(r["test"] for r in records) == sorted(["RRULx2", "TCP_STREAMx1", "TCP_STREAMx2"] * 2)
    assert not workflow.failed()
    rrul = [r for r in records if r["test"] == "RRULx2"]
    for record in rrul:
        # Under load over idle, both timed (at real-time priority the probes need not wait for a
        # CPU, and with 2 flows each way their latency may stay as it was idle: no bound below).
        assert record["probe_latency_us"] > 0 and record["idle_latency_us"] > 0
        inflation = record["probe_latency_us"] / record["idle_latency_us"]
        assert record["latency_inflation"] == pytest.approx(inflation)
        # The probes ran at real-time priority against the real-time netserver (12866 on native,
        # NAT's published 12931): started by the run, and stopped by it.
        assert "chrt -f 20 netperf" in record["command"]
        assert record["upload_mbit_s"] > 0 and record["download_mbit_s"] > 0
        # Each job's line says when its netperf ended: just after its last interim result.
        for name, (_, ended, text) in load.split_jobs(record["raw_output"]).items():
            assert 0 <= ended - load.series(text).end < 1.0, (name, ended, load.series(text).end)
        # The probes took turns, idle and under load (side by side they measured each other).
        jobs = record["load"]["jobs"]
        for tcp, udp in (("idle_tcp", "idle_udp"), ("probe_tcp", "probe_udp")):
            assert jobs[udp]["window_s"][0] > jobs[tcp]["window_s"][1] - PROBE_OVERLAP_S, jobs
    streams = [r for r in records if r["test"].startswith("TCP_STREAM")]
    assert all(r["machine_cpu"]["s_per_gbit"] > 0 for r in streams)
    figures = workflow.directory / "results" / "figures"
    for name in ("load_cdf.pdf", "load_timeseries.pdf", "streams_scaling.pdf", "load_vs_native.csv"):
        assert (figures / name).stat().st_size > 1000, name
    table = (figures / "load.csv").read_text()
    assert "latency_inflation" in table and "upload_mbit_s" in table
    from vnetbench.testbed import for_workdir

    assert leftovers(for_workdir(workflow.directory)) == []
    assert not pids_of("netserver", 12866) and not pids_of("netserver", 12931)
