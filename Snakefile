# vnetbench: what does virtualization cost my network?
# Reproduces Figures 3-7 of Schmidt et al. (2007) on any testbed. See README.md.
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

# The hooks below use Snakemake internals (workflow.overwrite_configfiles,
# workflow.configfile(), workflow.is_main_process, workflow.dag.needrun_jobs());
# tests/test_snakemake_internals.py fails loudly if an upgrade changes them.
min_version("9.27")


# The workflow's own files, wherever the working directory (-d) is, and also when this
# Snakefile is used as a module. Its package comes first, here and (from the run's start,
# rules/common.smk) in every job: Snakemake would append a script's folder after
# site-packages, behind any installed copy.
WORKFLOW_DIR = Path(str(workflow.current_basedir))
PACKAGE_DIR = str(WORKFLOW_DIR / "workflow" / "scripts")
sys.path.insert(0, PACKAGE_DIR)
from vnetbench.config import ConfigError, check_yaml_file, load_experiment
from vnetbench.errors import VnetbenchError
from vnetbench.testbed import require_root

try:
    # The `configfile:` directive, called so that a config named on the command line
    # replaces the default instead of being merged into it (a smaller config must not
    # inherit platforms or figures).
    if not workflow.overwrite_configfiles and os.path.exists("config/config.yaml"):
        check_yaml_file("config/config.yaml")  # names the line of a YAML error
        workflow.configfile("config/config.yaml")
    EXPERIMENT = load_experiment(config, workflow.configfiles)
except ConfigError as error:
    sys.exit(f"vnetbench: bad config: {error}")
except VnetbenchError as error:
    sys.exit(f"vnetbench: {error}")


include: "rules/common.smk"
include: "rules/cells.smk"
include: "rules/precision.smk"
include: "rules/guest.smk"
include: "rules/figures.smk"
include: "rules/load.smk"
include: "rules/compare.smk"
include: "rules/report.smk"


report: "report/workflow.rst"


# The cells are named here too: Snakemake does not rebuild a deleted
# intermediate file whose downstream outputs are up to date.
rule figures:
    default_target: True
    input:
        expand(
            "results/figures/{figure}.{ext}",
            figure=EXPERIMENT.figures,
            ext=["csv", "pdf"],
        ),
        ratio_outputs(),
        extra_outputs(),
        load_outputs(),
        "results/paper_comparison.md",
        ["results/variants.md"] if VARIANTS else [],
        "results/provenance.json",
        lambda wildcards: cell_files(),
        plan_files,
