"""Snakemake adapter: the cells of one figure -> its tidy CSV. See vnetbench.aggregate."""

from vnetbench.aggregate import Thresholds, figure_table
from vnetbench.records import read_json, split_failed

snakemake = globals()["snakemake"]
records, failed = split_failed([read_json(path) for path in snakemake.input])
thresholds = Thresholds(**snakemake.params.thresholds)
table = figure_table(
    snakemake.wildcards.figure, snakemake.params.test, snakemake.params.labels, records, thresholds, failed
)
table.to_csv(snakemake.output[0], index=False)
with open(snakemake.log[0], "w") as log:
    print(
        f"{len(records)} records, {len(failed)} failed cells -> {len(table)} rows; "
        f"flagged: {int((table['flags'] != '').sum())}",
        file=log,
    )
