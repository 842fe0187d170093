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
            "precision": VALUE_TARGET,
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


# Beyond the paper: latency percentiles and CPU per transaction, for figures that ask.


rule plot_extra:
    input:
        "results/figures/{figure}.csv",
    output:
        report(
            "results/figures/{figure}_{extra}.pdf",
            caption="../report/extra.rst",
            category="Latency and CPU",
            labels={"figure": "{figure}", "metric": "{extra}"},
        ),
    log:
        "results/logs/figures/{figure}_{extra}.pdf.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        title=lambda wildcards: extra_title(wildcards),
        center=config["plot_center"],
    script:
        "../workflow/scripts/plot_extra.py"


rule plot_extra_ratios:
    input:
        "results/figures/{figure}_vs_{baseline}.csv",
    output:
        report(
            "results/figures/{figure}_{extra}_vs_{baseline}.pdf",
            caption="../report/extra.rst",
            category="Latency and CPU",
            labels={"figure": "{figure}", "metric": "{extra} against {baseline}"},
        ),
    log:
        "results/logs/figures/{figure}_{extra}_vs_{baseline}.pdf.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        title=lambda wildcards: extra_title(wildcards),
    script:
        "../workflow/scripts/plot_extra.py"
