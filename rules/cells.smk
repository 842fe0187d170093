# Cells: one netperf run per (platform, test, size, repetition).


rule cell:
    input:
        # ancient: a new preflight never makes a finished measurement stale.
        ancient(f"{RUN_DIR}/preflight.json"),
    output:
        "results/raw/{platform}/{test}/{size_bytes}/{rep}.json",
    log:
        "results/logs/cells/{platform}/{test}/{size_bytes}/{rep}.log",
    params:
        measurement=cell_measurement,
    resources:
        # One cell at a time on a testbed: cells must not disturb each other.
        testbed=1,
    script:
        "../workflow/scripts/run_cell.py"
