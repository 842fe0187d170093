"""Snakemake adapter: each variant against its platform, measured in the same blocks. See
vnetbench.variants."""

from vnetbench.records import load_cells
from vnetbench.variants import summary_markdown, variant_table

snakemake = globals()["snakemake"]
params = snakemake.params
records, _ = load_cells(snakemake.input)
table = variant_table(records, params.variants, params.metric_of, params.alpha, params.margin)
table.to_csv(snakemake.output.csv, index=False)
with open(snakemake.output.md, "w") as out:
    out.write(summary_markdown(table, params.alpha, params.margin))
with open(snakemake.log[0], "w") as log:
    print(table["verdict"].value_counts().to_string(), file=log)
