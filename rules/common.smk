# Helpers shared by the rules: the cell grid, wildcard constraints, input
# functions, and the hooks that start and end a run.
import signal
import time

from vnetbench import broker, guests, lifecycle, order, wire
from vnetbench.records import (
    config_snapshot,
    failed_placeholders,
    forget_failed,
    read_json,
)
from vnetbench.summary import run_summary

RUN_STARTED = time.time()
RUN = {}  # what this run started and must stop: its broker


# A cell that failed left a placeholder so that its run could draw the rest; here, before the
# DAG is built, it goes, and its cell is measured again. Not while another run holds the
# directory (its placeholders are still in use), and never in a cluster job's own process.
if workflow.is_main_process and not any(Path(".snakemake/locks").glob("*")):
    if forgotten := forget_failed():
        print(
            f"vnetbench: {len(forgotten)} cells failed in an earlier run; measuring them again",
            file=sys.stderr,
        )

# Host facts found by preflight; cells copy them into their records.
PREFLIGHT = "results/preflight.json"

# How a cell job runs, for its shell command (rules/cells.smk): this Python (the client
# needs no site-packages), the client, where the broker listens, the config the client
# measures from when no broker answers (vnetbench.broker once), and the host facts.
# Environment variables, not params: params are what a cell measures, and a change of them
# reruns it.
os.environ["VNETBENCH_PYTHON"] = sys.executable
os.environ["VNETBENCH_CELL_CLIENT"] = str(
    WORKFLOW_DIR / "workflow" / "scripts" / "cell_client.py"
)
os.environ["VNETBENCH_CONFIG_SNAPSHOT"] = config_snapshot(config)
os.environ["VNETBENCH_PREFLIGHT"] = PREFLIGHT
os.environ[wire.ENV] = wire.address()  # where this run's broker listens


# PYTHONPATH: the Snakefile puts the workflow's package first for every job.
envvars:
    "PYTHONPATH",
    "VNETBENCH_PYTHON",
    "VNETBENCH_CELL_CLIENT",
    "VNETBENCH_CONFIG_SNAPSHOT",
    "VNETBENCH_PREFLIGHT",
    "VNETBENCH_BROKER",


# The vm platform's guest image (rules/guest.smk), kept out of results/.
GUEST_IMAGE = {role: str(path) for role, path in vars(guests.cached_image()).items()}


# Names are validated ([a-z][a-z0-9_]*), so they are safe as regex alternatives; exact
# alternatives keep "{figure}.csv" from matching "{figure}_vs_{baseline}.csv".
wildcard_constraints:
    platform="|".join(EXPERIMENT.platforms),
    figure="|".join(EXPERIMENT.figures),
    baseline="|".join(EXPERIMENT.platforms),
    test="TCP_RR|UDP_RR|TCP_CRR|TCP_STREAM|UDP_STREAM",
    size_bytes="[1-9][0-9]*",
    rep="[1-9][0-9]*",
    round="[1-9][0-9]*",
    extra="latency|cpu",


def precision_rounds(before_round=None):
    """The plans of the precision rounds (results/precision/round{k}.json, written by the
    checkpoint `precision`): every round's, or those before `before_round`, as (path, plan).
    Asking for a plan that is not there yet makes Snakemake run that round first."""
    if EXPERIMENT.precision is None:
        return []  # a fixed number of repetitions: no rounds
    plans, round_ = [], 1
    while before_round is None or round_ < before_round:
        path = checkpoints.precision.get(round=round_).output[0]
        plans.append((path, read_json(path)))
        if not plans[-1][1]["add"]:
            break
        round_ += 1
    return plans


def added_blocks(before_round=None):
    """The blocks the precision rounds added (see precision_rounds)."""
    return [
        block for _, plan in precision_rounds(before_round) for block in plan["add"]
    ]


def plan_files(wildcards=None):
    """Every round's plan: targets, so that a plan whose cells changed is made again."""
    return [path for path, _ in precision_rounds()]


def cell_files(figure=None):
    """Result files of every cell of `figure` (or of all figures), every round's."""
    return [cell.path for cell in EXPERIMENT.cells(figure, added_blocks())]


SHUFFLED = config["run_order"] == "shuffled"
# The precision targets that flag a ratio or a value `imprecise`; None without a target.
RATIO_TARGET = EXPERIMENT.precision.target if EXPERIMENT.precision else None
VALUE_TARGET = EXPERIMENT.precision.value_target if EXPERIMENT.precision else None


PRIORITY = order.Priorities(EXPERIMENT, SHUFFLED, config["run_order_seed"])


def cell_priority(wildcards):
    return PRIORITY(
        wildcards.platform,
        wildcards.test,
        int(wildcards.size_bytes),
        int(wildcards.rep),
    )


def extra_outputs():
    """The figures of the extra metrics (latency, CPU) the config's figures ask for."""
    return [
        path
        for name, figure in EXPERIMENT.figures.items()
        for extra in figure.extra_metrics
        for path in (
            f"results/figures/{name}_{extra}.pdf",
            f"results/figures/{name}_{extra}_vs_{config['baseline']}.pdf",
        )
    ]


def extra_title(wildcards):
    what = {"latency": "latency (P50, P99)", "cpu": "CPU per transaction"}[
        wildcards.extra
    ]
    return f"{EXPERIMENT.figures[wildcards.figure].title}: {what}"


def protocol_text():
    return EXPERIMENT.protocol()


def platform_labels(wildcards=None):
    """Platform name -> legend label, in config order."""
    return {p.name: p.label for p in EXPERIMENT.platforms.values()}


def guest_image_for(wildcards):
    """A vm cell's guest image. A rebuilt image (its inputs changed, or it was deleted)
    remeasures the vm cells: the guest they measure changed."""
    if not EXPERIMENT.platforms[wildcards.platform].virtual_machine:
        return {}
    return GUEST_IMAGE


def cell_measurement(wildcards):
    """What a cell measures: its only tracked parameter, so changing anything
    else (labels, titles, retries, keys) never reruns a measurement."""
    return EXPERIMENT.measurement(
        wildcards.platform, wildcards.test, int(wildcards.size_bytes)
    ).as_params()


def end_run():
    try:
        if "broker" in RUN:
            RUN.pop("broker").stop()
        lifecycle.end(EXPERIMENT)
    except VnetbenchError as failure:
        print(f"vnetbench: could not clean up: {failure}", file=sys.stderr)


# The hosts are prepared and checked (preflight) only when this run will
# measure cells, and before the first one. This lives in hooks, not in a rule
# the cells depend on: a rule's fresh output would mark every finished cell
# as outdated.
def end_on_sigterm(signum, frame):
    """SIGTERM ends the run as Ctrl-C does. Snakemake's own SIGTERM handler takes a lock that
    its main loop may be holding at that moment, and then waits forever (seen here, with a
    testbed left up); Ctrl-C's way (KeyboardInterrupt) stops the jobs, runs onerror, ends.
    """
    raise KeyboardInterrupt


onstart:
    signal.signal(signal.SIGTERM, end_on_sigterm)
    if any(job.rule.name == "cell" for job in workflow.dag.needrun_jobs()):
        try:
            lifecycle.start(EXPERIMENT, PREFLIGHT, warmup=config["warmup"])
            RUN["broker"] = broker.Server(broker.Broker(EXPERIMENT, config)).start()
        except VnetbenchError as failure:
            end_run()
            print(f"vnetbench: {failure}", file=sys.stderr)
            print(run_summary(EXPERIMENT, RUN_STARTED, sys.argv), file=sys.stderr)
            sys.exit(1)


onsuccess:
    end_run()
    print(run_summary(EXPERIMENT, RUN_STARTED, sys.argv), file=sys.stderr)
    if failed_placeholders():
        sys.exit(1)  # drawn from what was measured, but cells failed: say so


onerror:
    end_run()
    print(run_summary(EXPERIMENT, RUN_STARTED, sys.argv, log), file=sys.stderr)
