# Provenance: enough that someone else could rebuild the setup.


rule provenance:
    input:
        # Rewritten after every run that measured something (the tables follow the cells).
        expand("results/figures/{figure}.csv", figure=EXPERIMENT.figures),
    output:
        report(
            "results/provenance.json",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        "results/logs/provenance.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        preflight=PREFLIGHT,
        workflow_dir=workflow.basedir,
    script:
        "../workflow/scripts/write_provenance.py"
