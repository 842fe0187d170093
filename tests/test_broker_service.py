"""The run's measuring service (vnetbench.broker.Server) over its real socket: an answer that
raises fails that job only, and the next job is answered. Seen in a load run: a record that could
not be written to JSON killed the serving thread, and every later block waited forever."""

import socket

from vnetbench import wire
from vnetbench.broker import Server


class Answers:
    """A stand-in for the Broker (which would measure on a testbed): the first question raises,
    as that record did; the others are answered."""

    def __init__(self):
        self.asked = 0

    def answer(self, question: bytes) -> bytes:
        self.asked += 1
        if self.asked == 1:
            raise TypeError("Object of type function is not JSON serializable")
        return wire.encode(["ok", question.decode()])

    def close(self):
        pass


def ask(workdir, text: str) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)  # a service that stopped answering fails the test, not hangs it
        client.connect(wire.socket_name(wire.address(str(workdir))))
        client.sendall(text.encode())
        client.shutdown(socket.SHUT_WR)
        return wire.receive_all(client)


def test_an_answer_that_raises_fails_its_job_and_the_service_goes_on(tmp_path, capsys):
    server = Server(Answers(), tmp_path).start()
    try:
        assert ask(tmp_path, "first") == b""  # closed without an answer: its job fails
        assert wire.decode(ask(tmp_path, "second")) == ["ok", "second"]
    finally:
        server.stop()
    assert "not JSON serializable" in capsys.readouterr().err
