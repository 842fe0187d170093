"""Snakemake adapter: a latency-under-load figure's CDF and time series (from its cells'
records), or a parallel-flows figure's scaling (from its flow counts' tables). See
vnetbench.load_plots."""

import pandas as pd
from vnetbench import load_plots
from vnetbench.records import load_cells

snakemake = globals()["snakemake"]
params, wildcards = snakemake.params, snakemake.wildcards
if wildcards.kind == "scaling":
    figure = load_plots.scaling_plot([pd.read_csv(path) for path in snakemake.input], params.title)
    done = f"{len(snakemake.input)} flow counts"
else:
    records, failed = load_cells(snakemake.input)
    draw = load_plots.cdf_plot if wildcards.kind == "cdf" else load_plots.timeseries_plot
    figure = draw(records, params.labels, params.title)
    done = f"{len(records)} records, {len(failed)} failed cells"
load_plots.save(figure, snakemake.output[0])
with open(snakemake.log[0], "w") as log:
    print(f"{wildcards.kind}: {done}", file=log)
