# Figures: cells -> one tidy CSV per figure -> one PDF per figure.


rule aggregate:
    input:
        lambda wildcards: cell_files(wildcards.figure),
    output:
        report(
            "results/figures/{figure}.csv",
            caption="../report/table.rst",
            category="Statistics and flags",
            labels={"figure": "{figure}"},
        ),
    log:
        "results/logs/figures/{figure}.csv.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        test=lambda wildcards: EXPERIMENT.figures[wildcards.figure].test,
        labels=platform_labels,
        thresholds={
            "cv": config["cv_threshold"],
            "min_transactions": config["min_transactions"],
            "precision": (config["precision"] or {}).get("value_target"),
        },
    script:
        "../workflow/scripts/aggregate_figure.py"


rule plot:
    input:
        "results/figures/{figure}.csv",
    output:
        report(
            "results/figures/{figure}.pdf",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "results/logs/figures/{figure}.pdf.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        metric=lambda wildcards: EXPERIMENT.figures[wildcards.figure].metric,
        title=lambda wildcards: EXPERIMENT.figures[wildcards.figure].title,
        center=config["plot_center"],
    script:
        "../workflow/scripts/plot_figure.py"
