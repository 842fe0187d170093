# Helpers shared by the rules: the cell grid, wildcard constraints, input
# functions, and the hooks that start and end a run.
from vnetbench import session

# Host facts found by preflight; cells copy them into their records.
PREFLIGHT = "results/preflight.json"


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
        "client": platform.client.measured_as,
        "netperf": platform.client.netperf,
        "server_address": platform.server.address,
        "netserver_port": platform.server.netserver_port,
    }


# The hosts are prepared and checked (preflight) only when this run will
# measure cells, and before the first one. This lives in hooks, not in a rule
# the cells depend on: a rule's fresh output would mark every finished cell
# as outdated.
onstart:
    if any(job.rule.name == "cell" for job in workflow.dag.needrun_jobs()):
        session.start(EXPERIMENT, PREFLIGHT)


onsuccess:
    session.end(EXPERIMENT)


onerror:
    session.end(EXPERIMENT)
