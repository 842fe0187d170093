# Cells: one netperf run per (platform, test, size, repetition).


rule cell:
    input:
        unpack(guest_image_for),
    output:
        "results/raw/{platform}/{test}/{size_bytes}/{rep}.json",
    log:
        "results/logs/cells/{platform}/{test}/{size_bytes}/{rep}.log",
    # Not a parameter: the order never reruns a measurement.
    priority: cell_priority
    conda:
        "../environment.yml"
    resources:
        # One cell at a time on a testbed: cells must not disturb each other.
        testbed=1,
    params:
        measurement=cell_measurement,
        preflight=PREFLIGHT,
    script:
        "../workflow/scripts/run_cell.py"
