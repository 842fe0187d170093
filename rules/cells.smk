# Cells: one netperf run per (platform, test, size, repetition).


rule cell:
    output:
        "results/raw/{platform}/{test}/{size_bytes}/{rep}.json",
    log:
        "results/logs/cells/{platform}/{test}/{size_bytes}/{rep}.log",
    params:
        measurement=cell_measurement,
        preflight=PREFLIGHT,
    resources:
        # One cell at a time on a testbed: cells must not disturb each other.
        testbed=1,
    script:
        "../workflow/scripts/run_cell.py"
