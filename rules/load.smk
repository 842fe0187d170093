# Under load: each latency-under-load figure's CDF and time series, drawn from its cells'
# records (they keep every netperf's interim results), and each parallel-flows figure's scaling
# over its flow counts (vnetbench.load_plots).


rule plot_load:
    input:
        lambda wildcards: (
            cell_files(wildcards.figure)
            if wildcards.kind != "scaling"
            else [
                f"results/figures/{name}.csv"
                for name in scaling_members(wildcards.figure)
            ]
        ),
    output:
        report(
            "results/figures/{figure}_{kind}.pdf",
            caption="../report/load.rst",
            category="Under load",
            labels={"figure": "{figure}", "view": "{kind}"},
        ),
    log:
        "results/logs/figures/{figure}_{kind}.pdf.log",
    wildcard_constraints:
        figure="|".join(sorted(LOAD_FIGURES | set(SCALING))) or "none",
        kind="cdf|timeseries|scaling",
    localrule: True
    conda:
        "../environment.yml"
    params:
        labels=platform_labels,
        title=load_title,
    script:
        "../workflow/scripts/plot_load.py"
