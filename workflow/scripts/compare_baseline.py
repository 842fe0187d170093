"""Snakemake adapter: one figure's platforms against the baseline. See vnetbench.comparison."""

from vnetbench.comparison import ratios
from vnetbench.plots import plot_ratios
from vnetbench.records import read_json

snakemake = globals()["snakemake"]
params, baseline = snakemake.params, snakemake.wildcards.baseline
records = [read_json(path) for path in snakemake.input]
table = ratios(
    snakemake.wildcards.figure, params.test, params.metric, params.labels, records, baseline, params.target
)
table.to_csv(snakemake.output.csv, index=False)
figure = snakemake.wildcards.figure
plot_ratios(table, baseline, f"{figure}: each platform against {baseline}", snakemake.output.pdf)
with open(snakemake.log[0], "w") as log:
    print(f"{len(table)} ratios against {baseline}", file=log)
