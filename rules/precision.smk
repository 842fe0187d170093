# Precision: after each round of cells, a plan of the blocks the next round adds (a
# checkpoint: the cells of round k+1 exist only once round k's plan does). Only with a
# precision target (rules/common.smk, precision_rounds).
from dataclasses import asdict

from vnetbench.precision import targets_of


checkpoint precision:
    input:
        lambda wildcards: [
            cell.path
            for cell in EXPERIMENT.cells(None, added_blocks(int(wildcards.round)))
        ],
    output:
        "results/precision/round{round}.json",
    log:
        "results/logs/precision/round{round}.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        # A function: only a config with a precision target has targets (and this rule).
        targets=lambda wildcards: asdict(targets_of(EXPERIMENT)),
        baseline=config["baseline"],
        metric_of={f.test: f.metric for f in reversed(EXPERIMENT.figures.values())},
        # Not what a cell measures: a change of it plans anew, and reruns no cell.
        together=BLOCK_MEMBERS,
    script:
        "../workflow/scripts/plan_round.py"
