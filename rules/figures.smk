# Figures: cells -> one tidy CSV per figure -> one PDF per figure.


rule aggregate:
    input:
        lambda wildcards: cell_files(wildcards.figure),
    output:
        "results/figures/{figure}.csv",
    log:
        "results/logs/figures/{figure}.csv.log",
    localrule: True
    params:
        test=lambda wildcards: EXPERIMENT.figures[wildcards.figure].test,
        labels=lambda wildcards: {
            p.name: p.label for p in EXPERIMENT.platforms.values()
        },
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/aggregate_figure.py"


rule plot:
    input:
        "results/figures/{figure}.csv",
    output:
        "results/figures/{figure}.pdf",
    log:
        "results/logs/figures/{figure}.pdf.log",
    localrule: True
    params:
        metric=lambda wildcards: EXPERIMENT.figures[wildcards.figure].metric,
        title=lambda wildcards: EXPERIMENT.figures[wildcards.figure].title,
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/plot_figure.py"
