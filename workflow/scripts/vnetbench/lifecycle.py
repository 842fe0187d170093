"""A run's lifecycle around its cells: bring the testbed up, check the hosts, clean up.

`start` runs once before the first cell of a run (Snakemake's onstart hook),
`end` once after the last (onsuccess/onerror, which Snakemake also calls after
Ctrl-C). A marker file says a run is open, so `end` only undoes what
`start` did, and the next `start` also cleans up after a run that died
without ending.
"""

import os
import sys
from dataclasses import replace
from pathlib import Path

from . import cell, guests, machine, preflight, sizing, testbed
from .errors import VnetbenchError
from .model import Cell, Experiment, Platform
from .records import read_optional_json, utc_now, write_json_atomic

MARKER = Path(".vnetbench") / "run.json"
_HELD = {}  # while this process measures here: its turn on the machine, and awake CPUs


def _say(line: str) -> None:
    print(f"vnetbench: {line}", file=sys.stderr, flush=True)


class RunNotStarted(VnetbenchError):
    """The hosts could not be prepared or checked; everything started was cleaned up."""


def start(experiment: Experiment, preflight_path: str) -> dict:
    """Prepare and check every host; on problems, clean up and raise RunNotStarted naming them all."""
    if MARKER.exists():
        _say("cleaning up after an earlier run that did not end")
        _clean_up(experiment)
    if measures_here(experiment) and "turn" not in _HELD:
        _HELD["turn"] = machine.take_turn(os.getcwd(), _say)
        if experiment.keep_cpus_awake:
            awake = machine.keep_cpus_awake()
            if awake is None:
                _say(f"cannot keep idle CPUs awake ({machine.PM_QOS}): rates will vary more")
            else:
                _HELD["awake"] = awake
    write_json_atomic(str(MARKER), {"started_at": utc_now()})
    try:
        if experiment.testbed:
            testbed.up(experiment.testbed, log=_say)
        # QEMU guests are checked when the first vm cell boots them (ensure_guests).
        report = preflight.run(experiment, _platforms(experiment, virtual_machine=False))
    except VnetbenchError as failure:
        problems = getattr(failure, "problems", [str(failure)])
        _write_report(preflight_path, {"checked_at": utc_now(), "problems": problems})
        end(experiment)
        raise RunNotStarted(f"{failure}\nNothing was measured.") from None
    except BaseException:
        end(experiment)
        raise
    if experiment.testbed:
        report["testbed"] = testbed.inventory(experiment.testbed)
    _write_report(preflight_path, report)
    if experiment.order.warmup:
        warm_up(experiment, _platforms(experiment, virtual_machine=False))
    return report


def _platforms(experiment: Experiment, virtual_machine: bool) -> list[Platform]:
    """The platforms to check and warm up: not those the testbed could not build here (their
    cells fail naming what is missing; testbed.up said so once)."""
    unavailable = experiment.testbed.unavailable if experiment.testbed else {}
    return [
        p
        for p in experiment.platforms.values()
        if p.virtual_machine == virtual_machine and p.embedded not in unavailable
    ]


def ensure_guests(experiment: Experiment, image: guests.Image, preflight_path: str, log=_say) -> dict:
    """Boot the vm platforms' guests unless they run; after a boot, check them as preflight
    checks every other host and add what it found to the run's preflight report."""

    def check(state: dict) -> None:
        platforms = _platforms(experiment, virtual_machine=True)
        found = preflight.run(experiment, platforms)
        report = read_optional_json(preflight_path) or {}
        for section in ("hosts", "platforms"):
            report.setdefault(section, {}).update(found[section])
        report["guests"] = state
        _write_report(preflight_path, report)
        if experiment.order.warmup:
            warm_up(experiment, platforms)

    return guests.ensure(experiment.testbed, image, experiment.guest, log, on_boot=check)


def _write_report(path: str, report: dict) -> None:
    try:
        write_json_atomic(path, report)
    except OSError as error:
        # A full disk, say: the cells will fail on their own writes and be named.
        _say(f"could not write {path} ({error.strerror}); cells will record no host facts")


def warm_up(experiment: Experiment, platforms: list[Platform]) -> None:
    """One unrecorded netperf run per platform and test, so that no measured cell pays for
    cold caches, ARP or a netserver's first connection."""
    for figure in {f.test: f for f in experiment.figures.values()}.values():
        for platform in platforms:
            warm = Cell(platform.name, figure.test, figure.sizes[0], 0)
            # A timed second (sizing.timed): a warm-up needs no calibration.
            measurement = replace(
                sizing.timed(experiment.measurement(platform.name, figure.test, figure.sizes[0])), duration=1
            )
            try:
                cell.measure(warm, platform, measurement, experiment.run, log=lambda line: None)
                _say(f"warm-up: {platform.name} {figure.test} (not recorded)")
            except VnetbenchError as error:
                _say(f"warm-up failed, the cells will tell: {str(error).splitlines()[0]}")


def measures_here(experiment: Experiment) -> bool:
    """Whether the run's measurements use this machine's CPUs (then it takes turns)."""
    hosts = [host for p in experiment.platforms.values() for host in (p.client, p.server)]
    return experiment.testbed is not None or any(host.is_local for host in hosts)


def end(experiment: Experiment) -> None:
    """Undo what `start` did; does nothing when no run is open."""
    try:
        _clean_up(experiment)
    finally:
        if "awake" in _HELD:
            machine.let_cpus_sleep(_HELD.pop("awake"))
        if "turn" in _HELD:
            machine.end_turn(_HELD.pop("turn"))


def cpus_kept_awake() -> bool:
    """Whether this process holds idle CPUs awake now (see vnetbench.machine)."""
    return "awake" in _HELD


def _clean_up(experiment: Experiment) -> None:
    if not MARKER.exists():
        return
    if experiment.testbed:
        # Stopping every process in the testbed's namespaces stops the netservers too.
        testbed.down(experiment.testbed, log=_say)
    else:
        for line in preflight.stop_netservers(experiment):
            _say(line)
    MARKER.unlink()
