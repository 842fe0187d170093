"""Snakemake adapter: our results beside the paper's. See vnetbench.comparison."""

import pandas as pd
from vnetbench.comparison import RATIO_COLUMNS, cv_table, judge_claims, paper_markdown, ratios, stand_ins
from vnetbench.records import load_cells

snakemake = globals()["snakemake"]
params = snakemake.params
tables = {path.split("/")[-1].removesuffix(".csv"): pd.read_csv(path) for path in snakemake.input.tables}
records, failed = load_cells(snakemake.input.cells)
# The claims are judged on the same ratios as the _vs_ tables (the same estimates), each of
# the paper's platforms stood for by one of ours (stand_ins: on the lab, uml for Xen).
ours = stand_ins(params.embedded)
ratio_rows = []
for figure, (test, metric) in params.figures.items():
    sizes = set(tables[figure]["size_bytes"])
    of_figure = [r for r in records if r["test"] == test and r["size_bytes"] in sizes]
    for denominator in {ours.get("native"), ours.get("xen")}:
        if denominator in params.labels:
            ratio_rows.append(
                ratios(figure, test, metric, params.labels, of_figure, denominator, params.target)
            )
cvs = cv_table(tables, {figure: metric for figure, (_, metric) in params.figures.items()})
claims = judge_claims(
    pd.concat(ratio_rows) if ratio_rows else pd.DataFrame(columns=RATIO_COLUMNS), embedded=params.embedded
)
pd.concat([cvs.assign(part="largest_cv"), claims.assign(part="claims")]).to_csv(
    snakemake.output.csv, index=False
)
with open(snakemake.output.md, "w") as out:
    out.write(paper_markdown(cvs, claims, params.protocol, failed))
with open(snakemake.log[0], "w") as log:
    print(claims.to_string(), file=log)
