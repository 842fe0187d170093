# Cells: one netperf run per (platform, test, size, repetition).


rule cell:
    output:
        "results/raw/{platform}/{test}/{size_bytes}/{rep}.json",
    log:
        "results/logs/cells/{platform}/{test}/{size_bytes}/{rep}.log",
    resources:
        # One cell at a time on a testbed: cells must not disturb each other.
        testbed=1,
    params:
        measurement=cell_measurement,
        preflight=PREFLIGHT,
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/run_cell.py"
