"""The Snakefile relies on a few Snakemake internals (see its header). If an upgrade changes
them, these fail here, loudly, instead of the workflow misbehaving quietly."""

import inspect

import snakemake
import snakemake.api  # noqa: F401  (first: snakemake's own modules import each other)
from snakemake.dag import DAG
from snakemake.workflow import Workflow

from .conftest import ROOT


def test_snakemake_is_the_tested_release():
    # min_version in the Snakefile is the floor; this is the release the suite ran on.
    assert snakemake.__version__.startswith("9.27."), (
        f"Snakemake {snakemake.__version__}: the workflow is tested on 9.27; check the internals below, "
        "then update requirements.txt, environment.yml and the Snakefile's min_version"
    )
    assert 'min_version("9.27")' in (ROOT / "Snakefile").read_text()


def test_the_internals_the_snakefile_uses_still_exist():
    # A config named on the command line replaces the default one (not merged into it).
    assert isinstance(inspect.getattr_static(Workflow, "overwrite_configfiles"), property)
    assert list(inspect.signature(Workflow.configfile).parameters) == ["self", "fp"]
    # The testbed is checked for root only in the main process, not in cluster job steps.
    assert isinstance(inspect.getattr_static(Workflow, "is_main_process"), property)
    # onstart prepares the hosts only when cells will run.
    assert list(inspect.signature(DAG.needrun_jobs).parameters)[0] == "self"
    # The workflow's own files, wherever the working directory is.
    assert isinstance(inspect.getattr_static(Workflow, "current_basedir"), property)


def test_our_sigterm_handler_replaces_snakemakes():
    # rules/common.smk installs its SIGTERM handler in onstart, which must run after the
    # scheduler has installed Snakemake's own (which can deadlock): check the order.
    source = inspect.getsource(Workflow.execute)
    assert source.index("self.scheduler = JobScheduler(") < source.index("self._onstart(")
