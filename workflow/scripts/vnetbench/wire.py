"""How a cell job and the run's broker talk: the socket's address and the message format.

Standard library only and cheap to import: the cell client (`cell_client.py`) imports it
at every cell. A message is one JSON document on one line.
"""

import hashlib
import json
import os
import socket
from pathlib import Path

MAX_MESSAGE = 1 << 22


def address(workdir: str | os.PathLike = ".") -> str:
    """The broker's socket for a working directory: an abstract Unix socket (no file to leave
    behind, gone with its process), named after the directory so that two runs in two
    directories never meet."""
    digest = hashlib.sha256(str(Path(workdir).resolve()).encode()).hexdigest()[:16]
    return f"\0vnetbench-broker-{digest}"


def send(connection: socket.socket, message: dict) -> None:
    connection.sendall(json.dumps(message).encode() + b"\n")


def receive(connection: socket.socket) -> dict | None:
    """The next message, or None when the other end closed without one."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > MAX_MESSAGE:
            raise OSError(f"message larger than {MAX_MESSAGE} bytes")
    return json.loads(data)
