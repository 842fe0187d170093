# vnetbench: what does virtualization cost my network?
# Reproduces Figures 3-7 of Schmidt et al. (2007) on any testbed. See README.md.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# A config named on the command line replaces the default instead of being
# merged into it, so a smaller config never inherits platforms or figures.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))
from vnetbench.config import ConfigError, load_experiment

try:
    EXPERIMENT = load_experiment(config, workflow.configfiles)
except ConfigError as error:
    sys.exit(f"vnetbench: bad config: {error}")


include: "rules/common.smk"
include: "rules/preflight.smk"
include: "rules/cells.smk"
include: "rules/figures.smk"


rule figures:
    default_target: True
    input:
        expand("results/figures/{figure}.{ext}", figure=EXPERIMENT.figures, ext=["csv", "pdf"]),
