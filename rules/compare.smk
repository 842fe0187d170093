# Comparisons: every platform against the baseline, and our results beside the paper's.


rule compare_baseline:
    input:
        lambda wildcards: cell_files(wildcards.figure),
    output:
        csv="results/figures/{figure}_vs_{baseline}.csv",
        pdf=report(
            "results/figures/{figure}_vs_{baseline}.pdf",
            caption="../report/comparison.rst",
            category="Against the baseline",
            labels={"figure": "{figure}"},
        ),
    log:
        "results/logs/figures/{figure}_vs_{baseline}.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        test=lambda wildcards: EXPERIMENT.figures[wildcards.figure].test,
        metric=lambda wildcards: EXPERIMENT.figures[wildcards.figure].metric,
        title=lambda wildcards: EXPERIMENT.figures[wildcards.figure].title,
        labels=platform_labels,
        target=RATIO_TARGET,
    script:
        "../workflow/scripts/compare_baseline.py"


rule paper_comparison:
    input:
        tables=expand("results/figures/{figure}.csv", figure=EXPERIMENT.figures),
        cells=lambda wildcards: cell_files(),
    output:
        md=report(
            "results/paper_comparison.md",
            caption="../report/paper.rst",
            category="The paper side by side",
        ),
        csv="results/paper_comparison.csv",
    log:
        "results/logs/paper_comparison.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        figures={name: (f.test, f.metric) for name, f in EXPERIMENT.figures.items()},
        labels=platform_labels,
        target=RATIO_TARGET,
        protocol=protocol_text(),
        embedded={
            name: spec.get("embedded") for name, spec in config["platforms"].items()
        },
    script:
        "../workflow/scripts/paper_comparison.py"


# Variants (platforms.*.variant_of): A and B measured in the same blocks.
rule variants:
    input:
        lambda wildcards: cell_files(),
    output:
        csv="results/variants.csv",
        md=report(
            "results/variants.md",
            caption="../report/variants.rst",
            category="Variants",
        ),
    log:
        "results/logs/variants.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        variants=VARIANTS,
        metric_of={f.test: f.metric for f in EXPERIMENT.figures.values()},
        alpha=0.01,
        margin=0.05,
    script:
        "../workflow/scripts/variants.py"
