"""Do the vm platform's idle guests slow the other platforms down? (They share the machine's cores.)

Brings up an embedded testbed and boots its two QEMU guests, then measures native
TCP_RR (machine A -> machine B, as the native cells do) with the guests in three states,
interleaved round-robin so that drift of the shared machine spreads over all three:

- stopped: both QEMU processes frozen with SIGSTOP (they exist but take no CPU);
- idle: running, doing nothing (as they are during every non-vm cell of a run);
- pinned: running idle, every QEMU thread pinned to the last CPU (taskset).

Also reports each idle guest's CPU use from /proc (utime + stime over 10 s).

    .venv/bin/python bench/guest_cpu.py [ROUNDS] [SECONDS]
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT
from vnetbench import guest_image, guests, netperf, netserver, testbed
from vnetbench.hosts import open_session
from vnetbench.model import GuestSettings

SIZES = (1, 65536)


def image(directory: Path) -> guests.Image:
    cached = guests.cached_image(ROOT / "resources" / "guest")
    if cached.manifest.exists():
        return cached
    paths = guests.cached_image(directory)
    rc = ROOT / "workflow" / "guest" / "rc"
    guest_image.build("linux-image-cloud-amd64", rc, paths.kernel, paths.initramfs, paths.manifest, print)
    return paths


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpus: str | None) -> None:
    """Pin every thread of `pid` to `cpus`, or let them run anywhere again (None)."""
    mask = cpus or f"0-{os.cpu_count() - 1}"
    subprocess.run(["taskset", "-a", "-p", "-c", mask, str(pid)], check=True, capture_output=True)


def main(rounds: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="vnetbench-bench-") as scratch:
        bed = testbed.for_workdir(scratch)
        testbed.up(bed, log=lambda line: None)
        try:
            state = guests.ensure(bed, image(Path(scratch)), GuestSettings(), log=print)
            pids = [entry["pid"] for entry in state["guests"].values()]
            print(f"guests booted with {state['accel']} ({state['accel_reason']})")

            before = {pid: cpu_seconds(pid) for pid in pids}
            time.sleep(10)
            for pid in pids:
                print(f"idle guest qemu {pid}: {100 * (cpu_seconds(pid) - before[pid]) / 10:.1f}% of one CPU")

            client, server = bed.host("a", "client", "native"), bed.host("b", "server", "native")
            netserver.ensure(open_session(server), server)
            session = open_session(client)
            results = {(state, size): [] for state in ("stopped", "idle", "pinned") for size in SIZES}
            last_cpu = f"{os.cpu_count() - 1}"
            for round_ in range(rounds):
                for condition in ("stopped", "idle", "pinned"):
                    for pid in pids:
                        os.kill(pid, signal.SIGSTOP if condition == "stopped" else signal.SIGCONT)
                        pin(pid, last_cpu if condition == "pinned" else None)
                    time.sleep(0.5)
                    for size in SIZES:
                        argv = netperf.command("TCP_RR", size, seconds, server.address, server.netserver_port)
                        output = session.run(argv, timeout=seconds + 15).output
                        rate = netperf.parse_result("TCP_RR", size, output).transactions_per_s
                        results[(condition, size)].append(rate)
                print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            session.close()
        finally:
            testbed.down(bed, log=lambda line: None)

    print(f"\nnative TCP_RR, {rounds} runs of {seconds:g} s per state, medians (trans/s):")
    for size in SIZES:
        stopped = statistics.median(results[("stopped", size)])
        line = f"  {size:>6} B: stopped {stopped:,.0f}"
        for condition in ("idle", "pinned"):
            median = statistics.median(results[(condition, size)])
            line += f" | {condition} {median:,.0f} ({median / stopped:.3f})"
        print(line)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10, float(sys.argv[2]) if len(sys.argv) > 2 else 2)
