# Helpers shared by the rules: the cell grid, wildcard constraints, input functions, and the
# hooks that start and end a run. Parsing only declares: what a run must do first (the root
# check, the config snapshot, the service) happens in onstart; retrying failed cells and
# upgrading an earlier version's results are the explicit `python -m vnetbench prepare`.
import os
import signal
import threading
import time

from vnetbench import blocks, broker, guests, lifecycle, order, records
from vnetbench.model import LOAD_TESTS, is_rr, split_test
from vnetbench.records import read_json
from vnetbench.summary import run_summary

RUN_STARTED = time.time()
RUN = {}  # what this run started and must stop: its service

# Host facts found by preflight; cells copy them into their records.
PREFLIGHT = blocks.PREFLIGHT
# How a block job runs (vnetbench.blocks.SHELL): set in the environment at the run's start.
BLOCK_CLIENT = str(WORKFLOW_DIR / "workflow" / "scripts" / "block_client.py")
CONFIG_SNAPSHOT = records.config_snapshot_path(config)

# The vm platform's guest image (rules/guest.smk), kept out of results/.
GUEST_IMAGE = {role: str(path) for role, path in vars(guests.cached_image()).items()}
# The platforms measured in blocks (one job per block), and those whose cells are jobs of their own.
BLOCK_MEMBERS = EXPERIMENT.block_members
SOLO = [name for name in EXPERIMENT.platforms if name not in BLOCK_MEMBERS]


# Names are validated ([a-z][a-z0-9_]*), so they are safe as regex alternatives; exact
# alternatives keep "{figure}.csv" from matching "{figure}_vs_{baseline}.csv".
wildcard_constraints:
    platform="|".join(EXPERIMENT.platforms),
    figure="|".join(EXPERIMENT.figures),
    baseline="|".join(EXPERIMENT.platforms),
    test="|".join(sorted({figure.test for figure in EXPERIMENT.figures.values()})),
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


# The precision targets that flag a ratio or a value `imprecise`; None without a target.
RATIO_TARGET = EXPERIMENT.precision.target if EXPERIMENT.precision else None
# Variant -> the platform it is another setting of (results/variants.md compares them).
VARIANTS = {p.name: p.variant_of for p in EXPERIMENT.platforms.values() if p.variant_of}
VALUE_TARGET = EXPERIMENT.precision.value_target if EXPERIMENT.precision else None


PRIORITY = order.Priorities(EXPERIMENT)


def block_priority(wildcards):
    return PRIORITY(None, wildcards.test, int(wildcards.size_bytes), int(wildcards.rep))


def cell_priority(wildcards):
    return PRIORITY(
        wildcards.platform,
        wildcards.test,
        int(wildcards.size_bytes),
        int(wildcards.rep),
    )


# A ratio to the baseline needs a platform besides it: a config of the baseline alone (the
# loopback one) gets no figure of ratios that are all 1 by definition.
COMPARED = len(EXPERIMENT.platforms) > 1


def ratio_outputs():
    """Each figure's ratios to the baseline (CSV and PDF), when there is something to compare."""
    if not COMPARED:
        return []
    return expand(
        "results/figures/{figure}_vs_{baseline}.{ext}",
        figure=EXPERIMENT.figures,
        baseline=config["baseline"],
        ext=["csv", "pdf"],
    )


def extra_outputs():
    """The figures of the extra metrics (latency, CPU) the config's figures ask for."""
    suffixes = ["", f"_vs_{config['baseline']}"] if COMPARED else [""]
    return [
        f"results/figures/{name}_{extra}{suffix}.pdf"
        for name, figure in EXPERIMENT.figures.items()
        for extra in figure.extra_metrics
        for suffix in suffixes
    ]


# Latency-under-load figures (RRUL), and the figures whose flow counts draw a scaling figure.
LOAD_FIGURES = {
    name
    for name, figure in EXPERIMENT.figures.items()
    if split_test(figure.test)[0] in LOAD_TESTS
}
SCALING = list(
    dict.fromkeys(f.scaling for f in EXPERIMENT.figures.values() if f.scaling)
)


def scaling_members(scaling):
    return [name for name, f in EXPERIMENT.figures.items() if f.scaling == scaling]


def load_outputs():
    """The CDF and time series of every latency-under-load figure, the scaling figures."""
    return [
        f"results/figures/{name}_{kind}.pdf"
        for name in sorted(LOAD_FIGURES)
        for kind in ("cdf", "timeseries")
    ] + [f"results/figures/{name}_scaling.pdf" for name in SCALING]


def load_title(wildcards):
    if wildcards.kind == "scaling":
        title = EXPERIMENT.figures[scaling_members(wildcards.figure)[0]].title
        return title.rsplit(" (", 1)[0] + ": scaling with concurrent flows"
    what = {
        "cdf": "probe latency, idle and under load (CDF)",
        "timeseries": "one cell over time",
    }
    return f"{EXPERIMENT.figures[wildcards.figure].title}: {what[wildcards.kind]}"


def extra_title(wildcards):
    figure = EXPERIMENT.figures[wildcards.figure]
    per = "transaction" if is_rr(figure.test) else "Gbit moved"
    what = {"latency": "latency (P50, P99)", "cpu": f"CPU per {per}"}[wildcards.extra]
    return f"{figure.title}: {what}"


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


def block_measurements(wildcards):
    """What a block's cells measure: the block job's only tracked parameter, so changing
    anything else (labels, titles, retries, keys, the order) never reruns a measurement.
    """
    return blocks.measurements_param(
        EXPERIMENT, BLOCK_MEMBERS, wildcards.test, int(wildcards.size_bytes)
    )


def cell_measurements(wildcards):
    """What a cell of its own measures (see block_measurements)."""
    return blocks.measurements_param(
        EXPERIMENT, [wildcards.platform], wildcards.test, int(wildcards.size_bytes)
    )


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
def end_on_signal(signum, frame):
    """SIGTERM and Ctrl-C end the run alike: a KeyboardInterrupt, which stops the jobs and runs
    onerror. Snakemake's own SIGTERM handler takes a lock that its main loop may be holding, and
    then waits forever (seen here, with a testbed left up). And its log handler swallows a
    KeyboardInterrupt raised while it writes (a signal ignored, the run went on: seen in CI):
    a signal that lands there is sent again a moment later.
    """
    while frame is not None:
        code = frame.f_code
        if code.co_name == "emit" and "snakemake" in code.co_filename:
            threading.Timer(0.1, os.kill, (os.getpid(), signum)).start()
            return
        frame = frame.f_back
    raise KeyboardInterrupt


onstart:
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # (nohup's, say)
            signal.signal(signum, end_on_signal)
    blocks.export_environment(PACKAGE_DIR, BLOCK_CLIENT, CONFIG_SNAPSHOT)
    # Jobs that measure, or a precision round that may add some once it has run.
    measuring = [
        job
        for job in workflow.dag.needrun_jobs()
        if job.rule.name in ("block", "cell", "precision")
    ]
    if measuring:
        try:
            if EXPERIMENT.testbed:
                require_root()
            blocks.check_upgraded(
                [
                    str(path)
                    for job in measuring
                    if job.rule.name != "precision"
                    for path in job.output
                ]
            )
            records.write_config_snapshot(config, CONFIG_SNAPSHOT)
            lifecycle.start(EXPERIMENT, PREFLIGHT)
            RUN["broker"] = broker.Server(broker.Broker(EXPERIMENT)).start()
        except VnetbenchError as failure:
            end_run()
            print(f"vnetbench: {failure}", file=sys.stderr)
            print(run_summary(EXPERIMENT, RUN_STARTED, sys.argv), file=sys.stderr)
            sys.exit(1)


onsuccess:
    end_run()
    print(run_summary(EXPERIMENT, RUN_STARTED, sys.argv), file=sys.stderr)
    if records.failed_cells():
        sys.exit(1)  # drawn from what was measured, but cells failed: say so


onerror:
    end_run()
    print(run_summary(EXPERIMENT, RUN_STARTED, sys.argv, log), file=sys.stderr)
