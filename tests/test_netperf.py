"""The netperf parser, on outputs captured from real netperf 2.7.0 runs (tests/data)."""

import re
import subprocess

import pytest
from vnetbench import netperf
from vnetbench.metrics import value
from vnetbench.netperf import NetperfOutputError, parse_result

from .conftest import DATA


def output(name: str) -> str:
    return (DATA / name).read_text()


def test_tcp_rr_reports_rate_and_both_directions():
    m = parse_result("TCP_RR", 512, output("tcp_rr_512.out"))
    assert m.transactions_per_s == pytest.approx(15002.445)
    # trans/s x (request + response) x 8 / 1e6, as netperf's own THROUGHPUT=122.90
    assert m.throughput_mbit_s == pytest.approx(15002.445 * 1024 * 8 / 1e6)
    assert round(m.throughput_mbit_s, 2) == 122.90
    assert m.transactions == 15006
    assert m.elapsed_s == 1.0


def test_udp_rr_one_byte():
    m = parse_result("UDP_RR", 1, output("udp_rr_1.out"))
    assert m.transactions_per_s == pytest.approx(26514.377)
    assert m.throughput_mbit_s == pytest.approx(26514.377 * 2 * 8 / 1e6)
    assert m.transactions == 26517


def test_large_tcp_rr_counts_few_transactions():
    m = parse_result("TCP_RR", 52428800, output("tcp_rr_50m.out"))
    assert m.transactions == 23
    assert m.elapsed_s == 1.02


def test_tcp_stream_uses_receiver_rate():
    m = parse_result("TCP_STREAM", 65536, output("tcp_stream_64k.out"))
    assert m.throughput_mbit_s == 12775.48
    assert m.transactions_per_s is None
    assert m.bytes_received == 1597374464


def test_udp_stream_uses_receiver_rate_not_sender():
    m = parse_result("UDP_STREAM", 32768, output("udp_stream_32k.out"))
    assert m.throughput_mbit_s == 55033.46  # LOCAL_SEND_THROUGHPUT was 61089.55
    assert (m.datagrams_sent, m.datagrams_received) == (233057, 209953)


def test_tcp_crr_is_a_request_response_test_with_a_connection_per_transaction():
    # A real sized run (netperf 2.7.0, -l -500), with the cell's own selectors.
    m = parse_result("TCP_CRR", 1, output("tcp_crr_1.out"))
    assert m.transactions_per_s == 11552.947 and m.transactions == 500
    with pytest.raises(
        NetperfOutputError, match=re.escape("DIRECTION is 'Connect|Send|Recv', not the 'Send|Recv'")
    ):
        parse_result("TCP_RR", 1, output("tcp_crr_1.out"))  # a CRR output is no TCP_RR result


def test_udp_stream_keeps_the_senders_rate_and_the_datagrams_lost():
    # A real sized run of 2,000 datagrams over loopback, of which 1,137 arrived.
    m = parse_result("UDP_STREAM", 1024, output("udp_stream_1k.out"))
    assert (m.throughput_mbit_s, m.send_throughput_mbit_s) == (664.69, 1169.2)
    assert (m.datagrams_sent, m.datagrams_received) == (2000, 1137)


def test_size_other_than_asked_is_refused():
    with pytest.raises(
        NetperfOutputError, match="REQUEST_SIZE/RESPONSE_SIZE are 512/512 bytes, not the 64/64"
    ):
        parse_result("TCP_RR", 64, output("tcp_rr_512.out"))
    with pytest.raises(NetperfOutputError, match="LOCAL_SEND_SIZE is 65536 bytes, not the 1024"):
        parse_result("TCP_STREAM", 1024, output("tcp_stream_64k.out"))


def test_r0_empty_result_is_refused():
    # `-r 0` exits 0 with REQUEST_SIZE=0 and a few selectors only.
    with pytest.raises(NetperfOutputError):
        parse_result("TCP_RR", 1, output("err_r0.out"))


@pytest.mark.parametrize("name", ["err_no_netserver.out", "err_udp_too_big.out", "err_unknown_test.out"])
def test_error_outputs_are_not_measurements(name):
    with pytest.raises(NetperfOutputError) as error:
        parse_result("UDP_RR", 65508, output(name))
    assert output(name).splitlines()[0] in str(error.value)  # the output travels with the error


def test_truncated_and_garbage_outputs_are_refused():
    text = output("tcp_rr_512.out")
    with pytest.raises(NetperfOutputError, match="lacks"):
        parse_result("TCP_RR", 512, text[: len(text) // 2])
    with pytest.raises(NetperfOutputError, match="TRANSACTION_RATE is not a number: 'fast'"):
        parse_result("TCP_RR", 512, text.replace("TRANSACTION_RATE=15002.445", "TRANSACTION_RATE=fast"))
    with pytest.raises(NetperfOutputError):
        parse_result("TCP_RR", 512, "\x00\xffgarbage\n" * 5)


def test_protocol_mismatch_is_refused():
    with pytest.raises(NetperfOutputError, match="PROTOCOL is 'UDP', not the 'TCP'"):
        parse_result("TCP_RR", 1, output("udp_rr_1.out"))


def test_command_is_an_argument_list():
    argv = netperf.command("UDP_RR", 8192, 2, "198.18.0.2", 12865, "/opt/netperf", ("-4",))
    assert argv[0] == "/opt/netperf"
    assert argv[argv.index("-H") + 1] == "198.18.0.2"
    assert argv[argv.index("-l") + 1] == "2"
    assert argv[argv.index("-t") + 1] == "UDP_RR"
    assert argv[argv.index("--") + 1 :][:2] == ["-r", "8192,8192"]
    assert "-4" in argv[: argv.index("--")]
    stream = netperf.command("TCP_STREAM", 65536, 3, "h", 1)
    assert stream[stream.index("--") + 1 :][:2] == ["-m", "65536"]
    assert stream[stream.index("-l") + 1] == "3"
    with pytest.raises(ValueError, match="unknown test"):
        netperf.command("SCTP_RR", 1, 1, "h", 1)
    # A server behind NAT: the data connection's port is fixed (published), after the sizes.
    crr = netperf.command("TCP_CRR", 1, 1, "h", 12866, data_port=12867)
    assert crr[crr.index("--") + 1 :][:4] == ["-r", "1,1", "-P", ",12867"]
    assert "-P" not in argv[argv.index("--") :]


def test_version():
    assert netperf.parse_version("Netperf version 2.7.0\n") == "2.7.0"
    with pytest.raises(NetperfOutputError):
        netperf.parse_version("sh: netperf: not found")


# What a cell asked for, checked field by field: outputs of real netperf 2.7.0 runs whose
# command lines changed the units (-f g, -f M) or the test (TCP_MAERTS: the server sends).
@pytest.mark.parametrize(
    "test, size, name, field",
    [
        ("TCP_RR", 1, "tcp_rr_1_f_g.out", "THROUGHPUT_UNITS is '10^9bits/s'"),
        ("TCP_RR", 1, "tcp_rr_1_f_M.out", "THROUGHPUT_UNITS is 'MBytes/s'"),
        ("TCP_STREAM", 65536, "tcp_maerts_64k.out", "DIRECTION is 'Receive', not the 'Send' of a TCP_STREAM"),
    ],
)
def test_units_and_direction_other_than_asked_are_refused(test, size, name, field):
    with pytest.raises(NetperfOutputError, match=re.escape(field)):
        parse_result(test, size, output(name))


# Impossible values, edited into real outputs: non-finite numbers, and netperf's own -1
# "could not measure" in the fields a result is read from.
@pytest.mark.parametrize(
    "test, size, name, edit, field",
    [
        ("TCP_RR", 512, "tcp_rr_512.out", ("ELAPSED_TIME=1.00", "ELAPSED_TIME=nan"), "ELAPSED_TIME is nan"),
        ("TCP_RR", 512, "tcp_rr_512.out", ("TRANSACTION_RATE=15002.445", "TRANSACTION_RATE=inf"),
         "TRANSACTION_RATE is inf"),
        ("TCP_RR", 512, "tcp_rr_512.out", ("TRANSACTION_RATE=15002.445", "TRANSACTION_RATE=-1"),
         "TRANSACTION_RATE is -1"),
        ("TCP_RR", 512, "tcp_rr_512.out", ("REMOTE_BYTES_RECVD=7683072", "REMOTE_BYTES_RECVD=-1"),
         "REMOTE_BYTES_RECVD is -1"),
        ("UDP_STREAM", 32768, "udp_stream_32k.out",
         ("REMOTE_RECV_THROUGHPUT=55033.46", "REMOTE_RECV_THROUGHPUT=-1"), "REMOTE_RECV_THROUGHPUT is -1"),
        ("TCP_STREAM", 65536, "tcp_stream_64k.out",
         ("LOCAL_SEND_THROUGHPUT=12775.48", "LOCAL_SEND_THROUGHPUT=NaN"), "LOCAL_SEND_THROUGHPUT is NaN"),
    ],
)  # fmt: skip
def test_impossible_values_are_refused_naming_the_field(test, size, name, edit, field):
    text = output(name)
    assert edit[0] in text
    with pytest.raises(NetperfOutputError, match=re.escape(field)) as error:
        parse_result(test, size, text.replace(*edit))
    assert edit[1] in str(error.value)  # the output travels with the error


def test_the_sentinel_of_an_unused_field_is_accepted():
    # A STREAM test reports REQUEST_SIZE=-1: not applicable, and not read.
    assert "REQUEST_SIZE=-1" in output("tcp_stream_64k.out")
    assert parse_result("TCP_STREAM", 65536, output("tcp_stream_64k.out")).throughput_mbit_s > 0


def test_fractional_durations_are_refused_by_the_command():
    with pytest.raises(ValueError, match="whole seconds"):
        netperf.command("TCP_RR", 1, 2.5, "h", 1)
    assert (
        netperf.command("TCP_RR", 1, 2.0, "h", 1)[netperf.command("TCP_RR", 1, 2.0, "h", 1).index("-l") + 1]
        == "2"
    )


def test_real_netperf_runs_whole_seconds_only(netserver_port):
    """Why `duration` is a whole number: netperf reads -l with atoi. -l 2.5 runs 2 s, and
    -l 0.5 becomes 0, which does not stop on its own."""
    base = ["netperf", "-P", "0", "-H", "127.0.0.1", "-p", str(netserver_port), "-t", "TCP_RR"]
    done = subprocess.run([*base, "-l", "2.5", "--", "-k", "ELAPSED_TIME"], capture_output=True, text=True)
    assert netperf.parse_keyval(done.stdout)["ELAPSED_TIME"] == "2.00"
    endless = subprocess.run(["timeout", "3", *base, "-l", "0.5"], capture_output=True, text=True)
    assert endless.returncode == 124  # still running after 3 s: killed by timeout


def test_latency_percentiles_and_cpu_from_a_real_run():
    text = output("tcp_rr_64_latency_cpu.out")  # netperf 2.7.0, -c -C and the latency selectors
    result = parse_result("TCP_RR", 64, text, latency=True, cpu=True)
    assert result.latency_us == {
        "min": 5.0, "p50": 9.0, "p90": 123.0, "p99": 732.0, "max": 9545.0, "mean": 71.53, "stddev": 181.83,
    }  # fmt: skip
    cpu = result.cpu
    assert (cpu["client_method"], cpu["service_demand_units"], cpu["client_cpus"]) == ("S", "usec/KB", 2)
    # Service demand per KB of both directions, per transaction: CPU time per second over rate.
    assert cpu["client_us_per_transaction"] == pytest.approx(781.606 * 128 / 1024)
    assert cpu["client_us_per_transaction"] == pytest.approx(0.682 * 2 * 1e6 / 13961.828, rel=1e-3)
    # Not asked for: not read (and a plain run's output lacks them).
    assert parse_result("TCP_RR", 64, text).latency_us is None
    with pytest.raises(NetperfOutputError, match="lacks MIN_LATENCY"):
        parse_result("TCP_RR", 512, output("tcp_rr_512.out"), latency=True)


def test_no_cpu_time_to_read_is_no_cpu_per_transaction():
    """Inside a gVisor sandbox netperf reads the sandbox's own /proc/stat and reports 0% and a
    service demand of 0 (a real run's output): no measurement, never a transaction for free."""
    result = parse_result("TCP_RR", 1, output("tcp_rr_1_latency_cpu_gvisor.out"), latency=True, cpu=True)
    assert result.cpu["client_util_percent"] == 0 and result.cpu["client_us_per_transaction"] is None
    assert result.cpu["server_us_per_transaction"] is None and result.transactions_per_s > 0
    assert value({"cpu": {"client_us_per_transaction": 0.0}}, "client_cpu_us_per_transaction") is None


@pytest.mark.parametrize(
    "edit, field",
    [
        (("P99_LATENCY=732", "P99_LATENCY=-1"), "P99_LATENCY is -1"),
        (("P50_LATENCY=9", "P50_LATENCY=nan"), "P50_LATENCY is nan"),
        (("LOCAL_SD=781.606", "LOCAL_SD=-1.000"), "LOCAL_SD is -1.000"),
        (("REMOTE_CPU_UTIL=68.20", "REMOTE_CPU_UTIL=inf"), "REMOTE_CPU_UTIL is inf"),
        (("SD_UNITS=usec/KB", "SD_UNITS=Trans/s"), "SD_UNITS is 'Trans/s', not the 'usec/KB'"),
    ],
)
def test_the_new_fields_are_checked_as_strictly(edit, field):
    text = output("tcp_rr_64_latency_cpu.out")
    assert edit[0] in text
    with pytest.raises(NetperfOutputError, match=re.escape(field)):
        parse_result("TCP_RR", 64, text.replace(*edit), latency=True, cpu=True)


def test_the_command_asks_for_the_extra_metrics_only_when_wanted():
    plain = netperf.command("TCP_RR", 1, 1, "h", 1)
    assert "-c" not in plain and "P50_LATENCY" not in plain[-1]
    both = netperf.command("TCP_RR", 1, 1, "h", 1, latency=True, cpu=True)
    assert both[: both.index("--")].count("-c") == 1 and "-C" in both
    assert all(selector in both[-1].split(",") for selector in ("P99_LATENCY", "LOCAL_SD", "SD_UNITS"))


def test_a_percentile_netperf_could_not_compute_is_missing_not_zero():
    """A 50 MB run completes one transaction; netperf's histogram then reports P50 = 0 us."""
    text = (DATA / "tcp_rr_50m_latency_one_transaction.out").read_text()
    result = parse_result("TCP_RR", 52428800, text, latency=True, cpu=True)
    assert result.transactions == 1
    assert result.latency_us["p50"] is None and result.latency_us["p99"] is None
    assert result.latency_us["mean"] == 60491.0  # the mean of one transaction is its latency
    text = (DATA / "tcp_rr_64_latency_cpu.out").read_text()
    assert all(parse_result("TCP_RR", 64, text, latency=True, cpu=True).latency_us.values())


def test_a_cells_rate_is_total_work_over_total_time():
    """Two sized runs of 1,000 transactions, at 1,000/s (1 s) and 3,000/s (1/3 s): together 2,000
    transactions in 4/3 s, 1,500/s, not the mean of the rates, 2,000/s."""
    text = (DATA / "tcp_rr_512.out").read_text()
    one = parse_result("TCP_RR", 512, text)
    runs = [
        netperf.NetperfResult(**{**one.__dict__, "transactions": 1000, "transactions_per_s": rate,
                                 "throughput_mbit_s": rate * 1024 * 8 / 1e6})
        for rate in (1000.0, 3000.0)
    ]  # fmt: skip
    cell = netperf.combine(runs)
    assert cell.transactions_per_s == pytest.approx(1500.0)
    assert cell.throughput_mbit_s == pytest.approx(1500.0 * 1024 * 8 / 1e6)
    assert cell.transactions == 2000
