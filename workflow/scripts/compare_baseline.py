"""Snakemake adapter: one figure's platforms against the baseline. See vnetbench.comparison."""

import pandas as pd
from vnetbench.comparison import ratios
from vnetbench.metrics import RATES, present
from vnetbench.plots import plot_ratios
from vnetbench.records import load_cells

snakemake = globals()["snakemake"]
params, baseline = snakemake.params, snakemake.wildcards.baseline
figure = snakemake.wildcards.figure
records, failed = load_cells(snakemake.input)
# The figure's metric first, then the others its cells measured: the extra metrics (latency, CPU)
# and, under load, the flows' throughput and the probes' latencies. A request/response figure's
# other rate is its rate times a constant: not a second result.
others = [m for m in present(params.test, records) if m != params.metric]
if params.metric in RATES:
    others = [m for m in others if m not in RATES]
metrics = [params.metric, *others]
table = pd.concat(
    [
        ratios(figure, params.test, metric, params.labels, records, baseline, params.target, failed)
        for metric in metrics
    ]
)
table.to_csv(snakemake.output.csv, index=False)
plot_ratios(table, baseline, f"{params.title}: against {baseline}", snakemake.output.pdf, [params.metric])
with open(snakemake.log[0], "w") as log:
    print(f"{len(table)} ratios against {baseline} ({', '.join(metrics)})", file=log)
