"""The netperf parser, on outputs captured from real netperf 2.7.0 runs (tests/data)."""

import pytest
from vnetbench import netperf
from vnetbench.netperf import NetperfOutputError, parse_measurement

from .conftest import DATA


def output(name: str) -> str:
    return (DATA / name).read_text()


def test_tcp_rr_reports_rate_and_both_directions():
    m = parse_measurement("TCP_RR", 512, output("tcp_rr_512.out"))
    assert m.transactions_per_s == pytest.approx(15002.445)
    # trans/s x (request + response) x 8 / 1e6, as netperf's own THROUGHPUT=122.90
    assert m.throughput_mbit_s == pytest.approx(15002.445 * 1024 * 8 / 1e6)
    assert round(m.throughput_mbit_s, 2) == 122.90
    assert m.transactions == 15006
    assert m.elapsed_s == 1.0


def test_udp_rr_one_byte():
    m = parse_measurement("UDP_RR", 1, output("udp_rr_1.out"))
    assert m.transactions_per_s == pytest.approx(26514.377)
    assert m.throughput_mbit_s == pytest.approx(26514.377 * 2 * 8 / 1e6)
    assert m.transactions == 26517


def test_large_tcp_rr_counts_few_transactions():
    m = parse_measurement("TCP_RR", 52428800, output("tcp_rr_50m.out"))
    assert m.transactions == 23
    assert m.elapsed_s == 1.02


def test_tcp_stream_uses_receiver_rate():
    m = parse_measurement("TCP_STREAM", 65536, output("tcp_stream_64k.out"))
    assert m.throughput_mbit_s == 12775.48
    assert m.transactions_per_s is None
    assert m.bytes_received == 1597374464


def test_udp_stream_uses_receiver_rate_not_sender():
    m = parse_measurement("UDP_STREAM", 32768, output("udp_stream_32k.out"))
    assert m.throughput_mbit_s == 55033.46  # LOCAL_SEND_THROUGHPUT was 61089.55
    assert (m.datagrams_sent, m.datagrams_received) == (233057, 209953)


def test_size_other_than_asked_is_refused():
    with pytest.raises(NetperfOutputError, match="not the 64/64"):
        parse_measurement("TCP_RR", 64, output("tcp_rr_512.out"))
    with pytest.raises(NetperfOutputError, match="not the 1024"):
        parse_measurement("TCP_STREAM", 1024, output("tcp_stream_64k.out"))


def test_r0_empty_result_is_refused():
    # `-r 0` exits 0 with REQUEST_SIZE=0 and a few selectors only.
    with pytest.raises(NetperfOutputError):
        parse_measurement("TCP_RR", 1, output("err_r0.out"))


@pytest.mark.parametrize("name", ["err_no_netserver.out", "err_udp_too_big.out", "err_unknown_test.out"])
def test_error_outputs_are_not_measurements(name):
    with pytest.raises(NetperfOutputError) as error:
        parse_measurement("UDP_RR", 65508, output(name))
    assert output(name).splitlines()[0] in str(error.value)  # the output travels with the error


def test_truncated_and_garbage_outputs_are_refused():
    text = output("tcp_rr_512.out")
    with pytest.raises(NetperfOutputError, match="lacks"):
        parse_measurement("TCP_RR", 512, text[: len(text) // 2])
    with pytest.raises(NetperfOutputError, match="non-numeric"):
        parse_measurement("TCP_RR", 512, text.replace("TRANSACTION_RATE=15002.445", "TRANSACTION_RATE=fast"))
    with pytest.raises(NetperfOutputError):
        parse_measurement("TCP_RR", 512, "\x00\xffgarbage\n" * 5)


def test_protocol_mismatch_is_refused():
    with pytest.raises(NetperfOutputError, match="ran UDP"):
        parse_measurement("TCP_RR", 1, output("udp_rr_1.out"))


def test_command_is_an_argument_list():
    argv = netperf.command("UDP_RR", 8192, 2, "198.18.0.2", 12865, "/opt/netperf", ("-4",))
    assert argv[0] == "/opt/netperf"
    assert argv[argv.index("-H") + 1] == "198.18.0.2"
    assert argv[argv.index("-l") + 1] == "2"
    assert argv[argv.index("-t") + 1] == "UDP_RR"
    assert argv[argv.index("--") + 1 :][:2] == ["-r", "8192,8192"]
    assert "-4" in argv[: argv.index("--")]
    stream = netperf.command("TCP_STREAM", 65536, 0.5, "h", 1)
    assert stream[stream.index("--") + 1 :][:2] == ["-m", "65536"]
    assert stream[stream.index("-l") + 1] == "0.5"
    with pytest.raises(ValueError, match="unknown test"):
        netperf.command("SCTP_RR", 1, 1, "h", 1)


def test_version():
    assert netperf.parse_version("Netperf version 2.7.0\n") == "2.7.0"
    with pytest.raises(NetperfOutputError):
        netperf.parse_version("sh: netperf: not found")
