"""How a block job and the run's service talk: where, and in what format.

Where: an abstract Unix socket (no file to leave behind, gone with its process), named after
the working directory so that runs in two directories never meet; a job finds it from its own
working directory, which is the run's.

What: fields of text, NUL-separated, each side sending one message and then closing its
writing end. A request holds the job's arguments (vnetbench.broker.Broker.answer); an answer
holds, per cell, "ok", "kept" or "failed", the cell's log and its record's file content. No
JSON on the client's side: every block job imports this module, and `json` costs 15 ms of
start-up (it imports `re`).
"""

import os

_MAX_MESSAGE = 1 << 24


def address(workdir: str = ".") -> str:
    """The service's socket name for a working directory: an '@' stands for the leading NUL of
    an abstract socket."""
    import hashlib

    digest = hashlib.sha256(os.path.realpath(workdir).encode()).hexdigest()[:16]
    return f"@vnetbench-broker-{digest}"


def socket_name(name: str) -> str:
    return "\0" + name[1:] if name.startswith("@") else name


def encode(fields: list[str]) -> bytes:
    """Fields joined by NUL; a NUL inside one (netperf's raw output can hold any byte) is
    written as the text \\x00."""
    return "\0".join(field.replace("\0", "\\x00") for field in fields).encode()


def decode(message: bytes, fields: int | None = None) -> list[str]:
    """The message's fields; with `fields`, that many (the last one takes the rest)."""
    return message.decode(errors="replace").split("\0", -1 if fields is None else fields - 1)


def receive_all(connection) -> bytes:
    """Everything the other end sends until it closes its writing end."""
    chunks, size = [], 0
    while chunk := connection.recv(1 << 16):
        chunks.append(chunk)
        size += len(chunk)
        if size > _MAX_MESSAGE:
            raise OSError(f"message larger than {_MAX_MESSAGE} bytes")
    return b"".join(chunks)
