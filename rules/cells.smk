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
        # Unused by the shell line ($VNETBENCH_PREFLIGHT), but a tracked parameter since the
        # first version: removing it would rerun every cell measured before.
        preflight=PREFLIGHT,
    # A lean client asks the run's broker to measure the cell (see vnetbench.broker): a
    # `script:` job would pay Python's and Snakemake's start-up at every cell. Few fields:
    # Snakemake formats this line several times per job, also in a dry run.
    shell:
        '"$VNETBENCH_PYTHON" -I -S "$VNETBENCH_CELL_CLIENT" {output:q} {log:q} {params.measurement:q} {input:q}'
