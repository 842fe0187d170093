"""The end-of-run summary: cells done, failed and not yet run, and how to finish the job."""

import json
import os
import shlex

from .model import Experiment
from .precision import per_platform_lines, reached_line, read_plans, targets_of
from .records import failed_cells

_SHOWN = 20  # failed cells listed by name; the rest are counted


def failed_outputs(snakemake_logs) -> set[str]:
    """Outputs of the block and cell jobs that Snakemake's log(s) of this run report as failed."""
    paths = [snakemake_logs] if isinstance(snakemake_logs, str) else list(snakemake_logs or [])
    failed = set()
    for path in paths:
        if not os.path.exists(path):
            continue
        in_cell_error = False
        with open(path, errors="replace") as log:
            for line in log:
                if line.startswith("Error in rule "):
                    in_cell_error = line.startswith(("Error in rule cell:", "Error in rule block:"))
                elif in_cell_error and line.startswith("    output: "):
                    failed.update(path.strip() for path in line.removeprefix("    output: ").split(","))
                    in_cell_error = False
    return failed


def run_summary(
    experiment: Experiment, run_started: float, command: list[str], snakemake_log: str | None = None
) -> str:
    """A cell failed in this run when it left a record of a failed cell (records.failed_record),
    when Snakemake's log says so, or when it has no record but a log written since `run_started`
    (its log may be all there is, or nothing, on a full disk)."""
    plans = read_plans()
    cells = experiment.cells(added=[block for plan in plans for block in plan["add"]])
    reported = failed_outputs(snakemake_log)
    placeholders = set(failed_cells())
    done, failed, missing = 0, [], 0
    for cell in cells:
        if cell.path in placeholders:
            failed.append(cell)
        elif os.path.exists(cell.path):
            done += 1
        elif cell.path in reported or (
            os.path.exists(cell.log_path) and os.path.getmtime(cell.log_path) >= run_started
        ):
            failed.append(cell)
        else:
            missing += 1
    lines = [
        f"vnetbench: {len(cells)} cells: {done} done, {len(failed)} failed, {missing} not yet run",
    ]
    lines += _failed_platforms(experiment, cells, failed)
    for cell in failed[:_SHOWN]:
        lines.append(f"  failed: {cell.path}  (log: {cell.log_path})")
    if len(failed) > _SHOWN:
        lines.append(f"  ... and {len(failed) - _SHOWN} more failed cells (logs under results/logs/cells/)")
    if placeholders & {cell.path for cell in failed}:
        lines.append(
            "  the figures, tables and report were drawn from the cells that were measured; the "
            "missing ones are named in them"
        )
    if placeholders & {cell.path for cell in failed}:
        lines.append(
            "  to measure the failed cells' blocks again: python -m vnetbench prepare (make figures "
            f"does), then {shlex.join(command)}"
        )
    elif failed or missing:
        lines.append(f"  to measure what is missing, run again: {shlex.join(command)}")
    if experiment.precision and plans and not missing:
        targets = targets_of(experiment)
        lines.append(f"vnetbench: after {len(plans)} round(s), {reached_line(plans[-1], targets)}")
        lines += per_platform_lines(plans[-1], targets)
    return "\n".join(lines)


def _failed_platforms(experiment: Experiment, cells: list, failed: list) -> list[str]:
    """A line per platform with failed cells: how many of its cells, and the first error."""
    lines = []
    for platform in experiment.platforms:
        mine = [cell for cell in failed if cell.platform == platform]
        if not mine:
            continue
        total = sum(cell.platform == platform for cell in cells)
        what = "every cell" if len(mine) == total else f"{len(mine)} of {total} cells"
        lines.append(f"  platform {platform}: {what} failed: {_first_error(mine[0])}")
    return lines


def _first_error(cell) -> str:
    try:
        with open(cell.path) as stream:
            return json.load(stream).get("error", "see its log")
    except (OSError, ValueError):
        return f"see {cell.log_path}"
