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
    # A lean client asks the run's broker to measure the cell (see vnetbench.broker): a
    # `script:` job would pay Python's and Snakemake's start-up at every cell.
    shell:
        '"$VNETBENCH_PYTHON" -I -S "$VNETBENCH_CELL_CLIENT" {output:q} {log:q} {wildcards.platform}'
        " {wildcards.test} {wildcards.size_bytes} {wildcards.rep} {params.measurement:q}"
        ' {params.preflight:q} "$VNETBENCH_CONFIG_SNAPSHOT" {input:q}'
