# Helpers shared by the rules: the cell grid, wildcard constraints, input functions.
import shutil

from vnetbench.config import Cell

# Files that live for one run only (preflight facts); removed when the run ends.
RUN_DIR = ".vnetbench/run"


wildcard_constraints:
    platform="[a-z][a-z0-9_]*",
    figure="[a-z][a-z0-9_]*",
    test="TCP_RR|UDP_RR|TCP_STREAM|UDP_STREAM",
    size_bytes="[1-9][0-9]*",
    rep="[1-9][0-9]*",


def cell_files(figure=None):
    """Result files of every cell of `figure` (or of all figures)."""
    return [cell.path for cell in EXPERIMENT.cells(figure)]


def cell_measurement(wildcards):
    """What a cell measures: its only tracked parameter, so changing anything
    else (labels, titles, retries, keys) never reruns a measurement."""
    platform = EXPERIMENT.platforms[wildcards.platform]
    return {
        "test": wildcards.test,
        "size_bytes": int(wildcards.size_bytes),
        "duration": EXPERIMENT.duration,
        "netperf_options": list(EXPERIMENT.netperf_options),
        "client": platform.client.target,
        "netperf": platform.client.netperf,
        "server_address": platform.server.address,
        "netserver_port": platform.server.netserver_port,
    }


def end_run():
    """Stop what the run started: netservers, then the run's own files."""
    if not Path(RUN_DIR).exists():
        return
    from vnetbench.preflight import stop_netservers

    for line in stop_netservers(EXPERIMENT):
        print(f"vnetbench: {line}", file=sys.stderr)
    shutil.rmtree(RUN_DIR, ignore_errors=True)


onsuccess:
    end_run()


onerror:
    end_run()
