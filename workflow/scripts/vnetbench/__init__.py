"""vnetbench: what does virtualization cost my network?

The logic of the workflow, importable and testable without Snakemake. The cell
path (config, message_sizes, netperf, hosts, cell) imports no pandas or matplotlib: a
cell job runs a thousand times per experiment and pays every import.
"""
