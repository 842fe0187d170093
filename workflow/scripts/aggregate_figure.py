"""Snakemake adapter: the cells of one figure -> its tidy CSV. See vnetbench.aggregate."""

from vnetbench.aggregate import figure_table
from vnetbench.records import read_json

snakemake = globals()["snakemake"]
records = [read_json(path) for path in snakemake.input]
table = figure_table(snakemake.wildcards.figure, snakemake.params.test, snakemake.params.labels, records)
table.to_csv(snakemake.output[0], index=False)
