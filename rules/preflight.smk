# Preflight: once per run, before the first cell, check every host.


rule preflight:
    output:
        # Run-scoped: removed at the end of every run, so that the next run
        # with cells to measure checks the hosts again.
        f"{RUN_DIR}/preflight.json",
    log:
        # The report is the log so that it survives a failed preflight.
        "results/preflight.json",
    localrule: True
    script:
        "../workflow/scripts/run_preflight.py"
