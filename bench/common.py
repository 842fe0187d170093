"""Helpers for the benchmarks: a workflow copy and real servers on 127.0.0.1."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def workflow_copy(directory: Path, config: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "workflow", "profiles", "config", "report", "environment.yml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, directory / name)
    (directory / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def snakemake(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "--cores", "1", *args], cwd=directory, capture_output=True, text=True, check=True
    )
