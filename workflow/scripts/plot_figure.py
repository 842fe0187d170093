"""Snakemake adapter: a figure's CSV -> its PDF. See vnetbench.plots."""

import pandas as pd
from vnetbench.plots import plot_figure

snakemake = globals()["snakemake"]
params = snakemake.params
plot_figure(pd.read_csv(snakemake.input[0]), params.metric, params.title, snakemake.output[0], params.center)
with open(snakemake.log[0], "w") as log:
    print(f"plotted {snakemake.output[0]}", file=log)
