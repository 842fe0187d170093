"""Snakemake adapter: results/provenance.json. See vnetbench.provenance."""

import snakemake as snakemake_package
import vnetbench
from vnetbench.provenance import provenance
from vnetbench.records import read_optional_json, write_json_atomic

snakemake = globals()["snakemake"]
data = provenance(
    dict(snakemake.config),
    read_optional_json(snakemake.params.preflight),
    snakemake.params.workflow_dir,
    snakemake_package.__version__,
    vnetbench.__path__[0],
)
write_json_atomic(snakemake.output[0], data)
with open(snakemake.log[0], "w") as log:
    print(f"config sha256 {data['config_sha256']}, commit {data['vnetbench_commit']}", file=log)
