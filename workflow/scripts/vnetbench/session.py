"""A run's lifecycle around its cells: prepare and check the hosts, then clean up.

`start` runs once before the first cell of a run (Snakemake's onstart hook),
`end` once after the last (onsuccess/onerror). A marker file says a session is
open, so `end` only stops what `start` started, and the next `start` also
cleans up after a run that died without ending.
"""

import sys
from pathlib import Path

from . import preflight
from .config import Experiment
from .records import read_json, utc_now, write_json_atomic

MARKER = Path(".vnetbench") / "session.json"


def start(experiment: Experiment, preflight_path: str) -> dict:
    """Check every host; on problems, clean up, name them all, and stop the run."""
    if MARKER.exists():
        end(experiment)  # a run that died without ending
    write_json_atomic(str(MARKER), {"started_at": utc_now()})
    try:
        report = preflight.run(experiment)
    except preflight.PreflightFailed as failure:
        write_json_atomic(preflight_path, {"checked_at": utc_now(), "problems": failure.problems})
        end(experiment)
        print(f"vnetbench: {failure}\nNothing was measured.", file=sys.stderr)
        sys.exit(1)
    write_json_atomic(preflight_path, report)
    return report


def end(experiment: Experiment) -> None:
    """Stop what `start` started; does nothing when no session is open."""
    if not MARKER.exists():
        return
    read_json(str(MARKER))
    for line in preflight.stop_netservers(experiment):
        print(f"vnetbench: {line}", file=sys.stderr)
    MARKER.unlink()
