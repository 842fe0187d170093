"""Harness overhead per cell, on the path the main job takes: the embedded testbed, every platform.

    .venv/bin/python bench/cell_overhead.py [REPETITIONS]    # a run of its own (needs root)
    .venv/bin/python bench/cell_overhead.py --records DIR    # the records of a run, e.g. make figures'

1. Overhead per cell and platform, from the records of a real run of the workflow (Snakemake,
   the run's broker, kept shells): the time between the end of one netperf run and the end of
   the next, minus the next one's ELAPSED_TIME, summed over a cell's runs (interleaved cells
   say when each run ran). Summed over a run it is (span of the cells - netperf's time) /
   cells, the figure the goal (0.1 s) is about.
2. The same overhead broken down, each part measured on its own on a testbed like the run's:
   Snakemake dispatch (trivial shell jobs with the cell rule's priority and resources), the
   cell job's process start and imports, connecting (once per host and run), starting a remote
   command on a kept shell, and netperf's own set-up and tear-down (its wall time minus
   ELAPSED_TIME). What is left is the client<->broker exchange and writing the record.
3. Does the harness change what it measures? Interleaved pairs of native TCP_RR 1 B runs of
   1 s, idle CPUs kept awake as in a run: the cell's own command through the broker's kept
   shell (Fabric), and the same command by hand with `ip netns exec` in machine A, until the
   95% interval of the harness/hand ratio is within +-3% (at most 300 pairs).
"""

import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SNAKEMAKE, embedded_testbed, tiny_config, workflow_copy
from vnetbench import cell, netperf
from vnetbench.model import Cell
from vnetbench.precision import paired_ratio
from vnetbench.records import load_cells
from vnetbench.records import seconds_of as stamp

PLATFORMS = ("native", "openvz", "xen", "vm")


def calibration_seconds(record: dict, workdir: Path) -> float:
    """The wall time of the calibration a cell made before its runs (0 if it made none)."""
    source = (record.get("calibration") or {}).get("source", "")
    if not source.startswith("new, "):
        return 0.0
    made = json.loads((workdir / source.removeprefix("new, ")).read_text())
    return stamp(made["finished_at"]) - stamp(made["started_at"])


def timeline(records: list[dict]) -> list[dict]:
    """Every stretch of netperf of a run, in time order: each run of an interleaved cell (its
    runs say when they ran), or a whole cell whose runs were one command."""
    stretches = []
    for record in records:
        runs = record.get("runs", [])
        if runs and "started_at" in runs[0]:
            for index, run in enumerate(runs):
                began, ended = stamp(run["started_at"]), stamp(run["finished_at"])
                stretches.append(
                    {"record": record, "first": index == 0, "started": began, "finished": ended,
                     "elapsed": run["elapsed_s"]}
                )  # fmt: skip
        else:
            elapsed = sum(run["elapsed_s"] for run in runs) if runs else record["elapsed_s"]
            stretches.append({"record": record, "first": True, "started": stamp(record["started_at"]),
                              "finished": stamp(record["finished_at"]), "elapsed": elapsed})  # fmt: skip
    return sorted(stretches, key=lambda s: s["started"])


def per_platform(records: list[dict], workdir: Path | None = None) -> None:
    """Overhead per cell: the wall time of the cells minus netperf's own elapsed time (and, for a
    cell that calibrated its configuration first, minus that calibration run). Over the whole
    run (its mean, round transitions and guest boots included), and per platform as medians of
    its two parts: the harness's gap before a block (Snakemake, the cell jobs, the broker, the
    records), shared by the block's cells, and each run's set-up and tear-down (a remote
    command, a netperf process and its connections: its wall time minus ELAPSED_TIME)."""
    calibrating = {id(r): calibration_seconds(r, workdir) if workdir else 0.0 for r in records}
    stretches = timeline(records)
    span = stretches[-1]["finished"] - stretches[0]["started"]
    elapsed = sum(s["elapsed"] for s in stretches)
    runs = sum(len(r.get("runs", [None])) for r in records)
    calibrations = sum(calibrating.values())
    print(f"{len(records)} cells ({runs} netperf runs) in {span:.0f} s, of which netperf {elapsed:.0f} s and "
          f"calibrations {calibrations:.0f} s: ", end="")  # fmt: skip
    print(f"overhead {(span - elapsed - calibrations) / len(records):.3f} s per cell (mean)")
    # Blocks as they ran: consecutive stretches of one (test, size, rep).
    blocks: list[list[dict]] = []
    for stretch in stretches:
        record = stretch["record"]
        key = (record["test"], record["size_bytes"], record["rep"])
        if not blocks or blocks[-1][0]["key"] != key:
            blocks.append([])
        blocks[-1].append(stretch | {"key": key})
    share: dict[int, float] = {}  # the gap before a block, per cell of it
    set_up: dict[int, float] = {}
    previous = blocks[0][-1]["finished"]
    for block in blocks[1:]:
        cells = list(dict.fromkeys(id(s["record"]) for s in block))
        # The gaps before each stretch of the block, less the calibrations its cells made.
        gaps, end = 0.0, previous
        for stretch in block:
            gaps += stretch["started"] - end
            end = stretch["finished"]
            wall = stretch["finished"] - stretch["started"]
            set_up[id(stretch["record"])] = set_up.get(id(stretch["record"]), 0.0) + wall - stretch["elapsed"]
        previous = end
        for cell_id in cells:
            share[cell_id] = (gaps - sum(calibrating[i] for i in cells)) / len(cells)
    for platform in dict.fromkeys(r["platform"] for r in records):
        mine = [id(r) for r in records if r["platform"] == platform and id(r) in share]
        gaps = [share[i] for i in mine]
        setups = [set_up[i] for i in mine]
        total = [share[i] + set_up[i] for i in mine]
        print(f"  {platform:8s} {len(mine):4d} cells, median per cell: harness gap "
              f"{statistics.median(gaps):.3f} s + runs' set-up {statistics.median(setups):.3f} s = "
              f"{statistics.median(total):.3f} s (mean {statistics.fmean(total):.3f} s)")  # fmt: skip


def run_grid(repetitions: int, scratch: Path) -> list[dict]:
    platforms = {name: {"label": name, "embedded": name} for name in PLATFORMS}
    config = tiny_config(testbed="embedded", platforms=platforms, repetitions=repetitions)
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1, 65536], "title": "TCP"}}
    flow = workflow_copy(scratch / "flow", config)
    began = time.monotonic()
    subprocess.run([SNAKEMAKE, "--cores", "1"], cwd=flow, capture_output=True, text=True, check=True)
    print(f"workflow run: {time.monotonic() - began:.0f} s wall, set-up, plots and report included")
    return load_cells(sorted((flow / "results" / "raw").rglob("*.json")))[0]


def dispatch_cost(scratch: Path, jobs: int = 60) -> float:
    """Seconds Snakemake spends per trivial shell job shaped like a cell (priority, resources)."""
    flow = scratch / "dispatch"
    flow.mkdir(parents=True)
    (flow / "Snakefile").write_text(
        f"rule all:\n    input: expand('out/{{i}}', i=range({jobs}))\n"
        "rule one:\n    output: 'out/{i}'\n    priority: lambda w: -int(w.i)\n"
        "    resources: testbed=1\n    shell: 'touch {output}'\n"
    )
    began = time.monotonic()
    subprocess.run(
        [SNAKEMAKE, "--cores", "1", "--scheduler", "greedy", "--resources", "testbed=1", "-q"],
        cwd=flow, capture_output=True, check=True,
    )  # fmt: skip
    empty = scratch / "empty"
    empty.mkdir()
    (empty / "Snakefile").write_text("rule all:\n    shell: 'true'\n")
    began_empty = time.monotonic()
    subprocess.run([SNAKEMAKE, "--cores", "1", "-q"], cwd=empty, capture_output=True, check=True)
    fixed = time.monotonic() - began_empty
    return (began_empty - began - fixed) / jobs


def client_start(rounds: int = 30) -> float:
    scripts = ROOT / "workflow" / "scripts"
    # What cell_client.py imports, in the way it runs (python -I -S).
    code = (
        f"import sys; sys.path.insert(0, {str(scripts)!r}); import _socket; "
        "from vnetbench import wire; from vnetbench.atomic import write_atomic"
    )
    times = []
    for _ in range(rounds):
        began = time.monotonic()
        subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)
        times.append(time.monotonic() - began)
    return statistics.median(times)


def breakdown(scratch: Path) -> None:
    print("breakdown (each part measured on its own):")
    print(f"  Snakemake dispatch per job:            {dispatch_cost(scratch):.3f} s")
    print(f"  cell job process start and imports:    {client_start():.3f} s")
    with embedded_testbed(PLATFORMS[:3]) as (experiment, shells):
        for name, shell in shells.items():
            began = time.monotonic()
            shell.run(["true"], timeout=10)  # the first command opens the connection
            connect = time.monotonic() - began
            starts = []
            for _ in range(20):
                began = time.monotonic()
                shell.run(["true"], timeout=10)
                starts.append(time.monotonic() - began)
            setups = []
            for _ in range(10):
                argv = cell.command(experiment.measurement(name, "TCP_RR", 1), experiment.run)
                began = time.monotonic()
                output = shell.run(argv, timeout=30).output
                wall = time.monotonic() - began
                setups.append(
                    wall - statistics.median(starts) - netperf.parse_result("TCP_RR", 1, output).elapsed_s
                )
            print(
                f"  {name:7s} connect {connect - statistics.median(starts):.3f} s once per run;"
                f" remote command start {statistics.median(starts):.3f} s;"
                f" netperf set-up and tear-down {statistics.median(setups):.3f} s"
            )
    print("  (vm: see the per-platform figures above; its guests boot only in a run)")


def harness_versus_hand(width: float = 0.03, most: int = 300) -> None:
    with embedded_testbed() as (experiment, shells):
        platform, shell = experiment.platforms["native"], shells["native"]
        measurement = experiment.measurement("native", "TCP_RR", 1)
        argv = cell.command(measurement, experiment.run)
        this = Cell("native", "TCP_RR", 1, 0)
        pairs = []
        while len(pairs) < most:
            # Alternate which goes first, so that neither always follows the other.
            runs = {}
            for how in ("harness", "hand") if len(pairs) % 2 == 0 else ("hand", "harness"):
                if how == "harness":
                    record = cell.measure(
                        this, platform, measurement, experiment.run, lambda line: None, shell
                    )
                    runs[how] = record["transactions_per_s"]
                else:
                    done = subprocess.run(
                        ["ip", "netns", "exec", experiment.testbed.netns("a"), *argv],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    runs[how] = netperf.parse_result("TCP_RR", 1, done.stdout).transactions_per_s
            pairs.append((runs["harness"], runs["hand"]))
            estimate = paired_ratio(pairs)
            if len(pairs) >= 20 and estimate.precision <= width:
                break
    includes = estimate.low <= 1 <= estimate.high
    print(
        f"harness / hand, native TCP_RR 1 B, {len(pairs)} interleaved pairs of 1 s: {estimate.ratio:.3f} "
        f"[{estimate.low:.3f}, {estimate.high:.3f}] (95% t interval of the paired log ratios, "
        f"+-{estimate.precision:.1%}); {'includes' if includes else 'EXCLUDES'} 1"
    )
    if not math.isfinite(estimate.precision) or estimate.precision > width:
        print(f"  not resolved to +-{width:.0%} within {most} pairs")


def main(argv: list[str]) -> None:
    if argv[:1] in (["-h"], ["--help"]) or (argv and argv[0] != "--records" and not argv[0].isdigit()):
        sys.exit(__doc__)
    if argv[:1] == ["--records"]:
        records = load_cells(sorted(Path(argv[1]).rglob("raw/*/*/*/*.json")))[0]
        per_platform(records, Path(argv[1]).resolve().parent)
        return
    repetitions = int(argv[0]) if argv else 10
    with tempfile.TemporaryDirectory(prefix="vnetbench-bench-") as tmp:
        scratch = Path(tmp)
        per_platform(run_grid(repetitions, scratch))
        breakdown(scratch / "parts")
        harness_versus_hand()


if __name__ == "__main__":
    main(sys.argv[1:])
