"""Helpers for the benchmarks: the tests' workflow copy, run with the real Snakemake."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import SNAKEMAKE, Workflow, tiny_config  # noqa: E402, F401  (tiny_config: for the benchmarks)


def workflow_copy(directory: Path, config: dict) -> Path:
    flow = Workflow(directory)
    flow.write_config(config)
    return flow.directory


def snakemake(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "--cores", "1", *args], cwd=directory, capture_output=True, text=True, check=True
    )
