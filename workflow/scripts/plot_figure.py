"""Snakemake adapter: a figure's CSV -> its PDF. See vnetbench.plots."""

import pandas as pd
from vnetbench.plots import plot_figure

snakemake = globals()["snakemake"]
plot_figure(
    pd.read_csv(snakemake.input[0]), snakemake.params.metric, snakemake.params.title, snakemake.output[0]
)
