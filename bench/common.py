"""Helpers for the benchmarks: a copy of the workflow, run with the real Snakemake; an
embedded testbed to time netperf on; a bootstrap interval of a quotient. They stand on their
own: no benchmark imports the tests' helpers."""

import contextlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml
from vnetbench import cell, machine, netperf, netserver, sizing, testbed
from vnetbench.config import load_experiment
from vnetbench.hosts import KeptShell, open_session

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
WORKFLOW_FILES = ("Snakefile", "rules", "workflow", "profiles", "config", "report", "environment.yml")


def tiny_config(netserver_port: int = 12865, **overrides) -> dict:
    """One loopback platform, two small TCP sizes and one UDP size, 1-second runs."""
    server = {"host": "local", "address": "127.0.0.1", "netserver_port": netserver_port}
    config = {
        "repetitions": 2,
        "duration": 1,
        "platforms": {
            "native": {"label": "Native (loopback)", "client": {"host": "local"}, "server": server}
        },
        "figures": {
            "tcp_small": {"test": "TCP_RR", "sizes": [1, 64], "title": "TCP small"},
            "udp_small": {"test": "UDP_RR", "sizes": [16], "title": "UDP small"},
        },
    }
    return config | overrides


def workflow_copy(directory: Path, config: dict) -> Path:
    """A copy of the workflow in `directory` with `config` as its config/config.yaml."""
    directory.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, directory / name)
    (directory / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def snakemake(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "--cores", "1", *args], cwd=directory, capture_output=True, text=True, check=True
    )


@contextlib.contextmanager
def embedded_testbed(names: tuple[str, ...] = ("native",), awake: bool = True):
    """An embedded testbed with these platforms (each named after its path): up, netserver
    listening on every server, a kept shell on every client, and, as in a run, idle CPUs kept
    awake (unless `awake` is False: a benchmark that compares both). Yields (experiment,
    shells); everything is stopped afterwards, also on failure, Ctrl-C or SIGTERM."""
    # A benchmark stopped with SIGTERM (kill, timeout, a CI's cancel) tears its lab down as Ctrl-C
    # does: by default SIGTERM ends Python without running a `finally`.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with _testbed(names, awake) as running:
            yield running
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _testbed(names: tuple[str, ...], awake: bool):
    with tempfile.TemporaryDirectory(prefix="vnetbench-bench-") as tmp:
        platforms = {name: {"label": name, "embedded": name} for name in names}
        experiment = load_experiment(tiny_config(testbed="embedded", platforms=platforms), workdir=tmp)
        shells, held = {}, None
        try:
            testbed.up(experiment.testbed, log=lambda line: None)
            held = machine.keep_cpus_awake() if awake else None
            for name, platform in experiment.platforms.items():
                netserver.ensure(open_session(platform.server), platform.server)
                shells[name] = KeptShell(platform.client)
            yield experiment, shells
        finally:
            for shell in shells.values():
                shell.close()
            if held is not None:
                machine.let_cpus_sleep(held)
            testbed.down(experiment.testbed, log=lambda line: None)


def cell_rates(experiment, shell: KeptShell, platform: str, test: str, size: int, amount=None, **changes):
    """(transactions per second of each run, seconds of wall time) of one cell of the cell's own
    command on `shell`: timed, or of `amount` per run; `changes` to what the cell measures
    (run_length, runs, netperf_options, latency, cpu)."""
    measurement = replace(experiment.measurement(platform, test, size), **changes)
    began = time.monotonic()
    output = shell.run(cell.command(measurement, experiment.run, amount), timeout=300).output
    wall = time.monotonic() - began
    runs = cell.split_runs(output, measurement.runs)
    parse = [netperf.parse_result(test, size, one, measurement.latency, measurement.cpu) for one in runs]
    return [result.transactions_per_s for result in parse], wall


def sized_amount(experiment, shell: KeptShell, platform: str, test: str, size: int, run_length: float) -> int:
    """The amount of a sized run of about `run_length` s, from one timed run of the cell's own
    command as its calibration (vnetbench.sizing)."""
    (value,), _ = cell_rates(experiment, shell, platform, test, size)
    return sizing.amount({"test": test, "size_bytes": size, "transactions_per_s": value}, run_length)


def interval(estimate) -> str:
    """A ratio with its 95% interval, as the tables print it: "0.763 [0.745, 0.782]"."""
    return f"{estimate.ratio:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def rate(experiment, shell: KeptShell, platform: str, size: int, **changes) -> float:
    """Transactions per second of one timed TCP_RR run of the cell's own command (cell_rates)."""
    return cell_rates(experiment, shell, platform, "TCP_RR", size, **changes)[0][0]


def sample_arg(text: str | None, default: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """A benchmark's sample from the command line, "TCP_RR:1,UDP_RR:64", or its default."""
    return [(test, int(size)) for test, size in (p.split(":") for p in text.split(","))] if text else default


def quotient_interval(variant: list, reference: list, statistic, seed: int = 2007, resamples: int = 2000):
    """statistic(variant) / statistic(reference), with a 95% percentile bootstrap interval that
    resamples the indices (rounds, or pairs) of both lists together."""
    rng = random.Random(seed)
    n = len(variant)
    quotients = []
    for _ in range(resamples):
        pick = [rng.randrange(n) for _ in range(n)]
        below = statistic([reference[i] for i in pick])
        if below:  # a resample of one repeated index has no spread: it says nothing
            quotients.append(statistic([variant[i] for i in pick]) / below)
    quotients.sort()
    low, high = quotients[int(0.025 * len(quotients))], quotients[int(0.975 * len(quotients)) - 1]
    return statistic(variant) / statistic(reference), low, high


def verdict(low: float, high: float, n: int, below: str = "lower", above: str = "higher") -> str:
    """What a 95% interval of a quotient decides. A percentile bootstrap over fewer than ten
    rounds or pairs covers far less than 95%: it decides nothing."""
    if n < 10:
        return "too few to decide"
    return below if high < 1 else above if low > 1 else "undecided"
