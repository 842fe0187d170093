# Precision: after each round of cells, a plan of the blocks the next round adds (a
# checkpoint: the cells of round k+1 exist only once round k's plan does).


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
        precision=config["precision"],
        baseline=config["baseline"],
        metric_of={f.test: f.metric for f in reversed(EXPERIMENT.figures.values())},
        max_repetitions={
            name: EXPERIMENT.max_repetitions(name) for name in EXPERIMENT.platforms
        },
    script:
        "../workflow/scripts/plan_round.py"
