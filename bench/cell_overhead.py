"""Per-cell overhead beyond netperf's own test time, over SSH, through the real workflow.

Starts an sshd on 127.0.0.1 (the client host, reached with Fabric) and runs N
one-second TCP_RR cells with Snakemake. The overhead of a cell is the wall time
between the end of one netperf run and the start of the next (Snakemake
dispatch, Python start, imports, SSH connect, one remote command), read from
the records' timestamps; the budget is 0.5 s.

    .venv/bin/python bench/cell_overhead.py [N]
"""

import json
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import snakemake, workflow_copy
from vnetbench.sshd import SSHServer, generate_key, wait_listening


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def main(cells: int = 30) -> None:
    with tempfile.TemporaryDirectory(prefix="vnetbench-bench-") as tmp:
        tmp = Path(tmp)
        key = generate_key(tmp / "client_key")
        server = SSHServer(tmp / "sshd", "127.0.0.1", free_port(), key)
        server.prepare()
        (tmp / "known_hosts").write_text(server.known_hosts_line())
        sshd = server.start(log=tmp / "sshd.log")
        try:
            wait_listening("127.0.0.1", server.port)
            config = {
                "repetitions": cells,
                "duration": 1,
                "platforms": {
                    "native": {
                        "label": "loopback over SSH",
                        "client": {
                            "host": "127.0.0.1",
                            "port": server.port,
                            "key": str(key),
                            "known_hosts": str(tmp / "known_hosts"),
                        },
                        "server": {"host": "local", "address": "127.0.0.1", "netserver_port": free_port()},
                    }
                },
                "figures": {"bench": {"test": "TCP_RR", "sizes": [1], "title": "bench"}},
            }
            flow = workflow_copy(tmp / "flow", config)
            began = time.monotonic()
            snakemake(flow)
            wall = time.monotonic() - began
        finally:
            sshd.terminate()
            sshd.wait()
        records = sorted(
            (json.loads(p.read_text()) for p in (flow / "results" / "raw").rglob("*.json")),
            key=lambda r: r["started_at"],
        )
        gaps = [
            parse(b["started_at"]) - parse(a["finished_at"])
            for a, b in zip(records, records[1:], strict=False)
        ]
        spans = [parse(r["finished_at"]) - parse(r["started_at"]) for r in records]
        per_cell = (parse(records[-1]["finished_at"]) - parse(records[0]["started_at"])) / len(records)
        print(f"cells: {len(records)} one-second TCP_RR cells, client over SSH (Fabric)")
        print(f"whole run: {wall:.1f} s wall, including start-up, preflight, aggregation and plots")
        print(f"netperf run inside a cell: median {statistics.median(spans):.3f} s")
        print(f"overhead between cells: median {statistics.median(gaps):.3f} s, max {max(gaps):.3f} s")
        print(f"wall time per cell in steady state: {per_cell:.3f} s (budget 1.5 s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
