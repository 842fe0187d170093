"""Snakemake adapter: a figure's extra metrics (latency, CPU) as values, or against the
baseline. See vnetbench.plots."""

import pandas as pd
from vnetbench.metrics import EXTRA
from vnetbench.plots import plot_figure, plot_ratios

snakemake = globals()["snakemake"]
params, wildcards = snakemake.params, snakemake.wildcards
table = pd.read_csv(snakemake.input[0])
measured = set(table["metric"])
# Latency: the median and the tail. CPU: the whole machine's where both ends share it (the
# embedded testbed), else each end's own.
wanted = {"latency": ["p50_latency_us", "p99_latency_us"], "cpu": [EXTRA["cpu"][0]]}[wildcards.extra]
if wildcards.extra == "cpu" and not set(wanted) <= measured:
    # Bulk tests: CPU per Gbit moved; elsewhere each end's netperf -c -C.
    wanted = ["machine_cpu_s_per_gbit"] if "machine_cpu_s_per_gbit" in measured else list(EXTRA["cpu"][1:])
metrics = [metric for metric in wanted if metric in measured]
if "baseline" in wildcards.keys():  # noqa: SIM118  (a Namedlist: `in` would look at its values)
    plot_ratios(
        table,
        wildcards.baseline,
        f"{params.title}: against {wildcards.baseline}",
        snakemake.output[0],
        metrics,
    )
else:
    plot_figure(table, metrics, params.title, snakemake.output[0], params.center)
with open(snakemake.log[0], "w") as log:
    print(f"plotted {', '.join(metrics)}", file=log)
