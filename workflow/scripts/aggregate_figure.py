"""Snakemake adapter: the cells of one figure -> its tidy CSV. See vnetbench.aggregate."""

from vnetbench.aggregate import Thresholds, figure_table
from vnetbench.records import load_cells

snakemake = globals()["snakemake"]
records, failed = load_cells(snakemake.input)
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
