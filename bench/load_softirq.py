"""Where the CPUs go under RRUL's load: the share of the machine's CPU time in softirq (and in
the deferred softirq threads, ksoftirqd) while 4 TCP_STREAM and 4 TCP_MAERTS flows run, per
path of the embedded testbed.

Why: softirq runs before any task, a real-time one included, so a path whose packets cost much
softirq work (vxlan's encapsulation) makes RRUL's real-time probe wait where a path whose work is
mostly in its processes' system calls does not (README "Under load").

Usage: bench/load_softirq.py [RUNS] [PLATFORM ...]  (default 3 runs of native and vxlan).
Reads /proc/stat over 2 s in the middle of 4-s flows; prints one line per run.
"""

import subprocess
import sys
import time
from pathlib import Path

from common import embedded_testbed
from vnetbench import lab

FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_ticks() -> list[int]:
    return [int(word) for word in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def ksoftirqd_ticks() -> int:
    pids = subprocess.run(["pgrep", "-x", "ksoftirqd/[0-9]+"], capture_output=True, text=True).stdout.split()
    fields = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() for pid in pids]
    return sum(int(f[11]) + int(f[12]) for f in fields)  # utime + stime


def under_load(client: str, server: str) -> tuple[float, dict[str, float], float]:
    """4+4 flows for 4 s: their Gbit/s both ways, and over 2 s in their middle the machine's CPU
    time by kind and ksoftirqd's, as shares."""
    netperf = ["ip", "netns", "exec", client, "netperf", "-P", "0", "-H", server, "-l", "4"]
    flows = [
        subprocess.Popen([*netperf, "-t", test, "--", "-k", "THROUGHPUT"], stdout=subprocess.PIPE, text=True)
        for test in ("TCP_STREAM",) * 4 + ("TCP_MAERTS",) * 4
    ]
    time.sleep(1.5)  # past the flows' start
    before, soft_before = cpu_ticks(), ksoftirqd_ticks()
    time.sleep(2)
    after, soft_after = cpu_ticks(), ksoftirqd_ticks()
    outputs = [flow.communicate(timeout=30)[0] for flow in flows]
    gbit = sum(float(out.split("=", 1)[1]) for out in outputs if "=" in out) / 1000
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent)
    shares = {field: t / total for field, t in zip(FIELDS, spent, strict=True) if t}
    return gbit, shares, (soft_after - soft_before) / total


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    platforms = tuple(sys.argv[2:]) or ("native", "vxlan")
    with embedded_testbed(platforms) as (experiment, _):
        for run in range(runs):
            for name in platforms:
                client = experiment.testbed.netns(lab.PATH[name].ends[0])
                gbit, shares, deferred = under_load(client, experiment.platforms[name].server.address)
                kinds = " ".join(f"{kind} {share:.0%}" for kind, share in shares.items())
                line = f"run {run + 1} {name}: {gbit:.1f} Gbit/s both ways; {kinds}; ksoftirqd {deferred:.0%}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
