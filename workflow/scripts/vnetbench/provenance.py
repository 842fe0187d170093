"""What someone else needs to rebuild the setup: hosts, testbed, software and the config."""

import hashlib
import json
import subprocess

from .precision import read_plans
from .records import guest_facts, utc_now


def config_hash(config: dict) -> str:
    """sha256 of the effective config (defaults filled in), independent of key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def git_commit(directory: str) -> str:
    """The checkout's commit, with '-dirty' when it has uncommitted changes; 'unknown' outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", directory, *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(
    config: dict, preflight: dict | None, workflow_dir: str, snakemake_version: str, package_dir: str = ""
) -> dict:
    preflight = preflight or {}
    return {
        "written_at": utc_now(),
        "vnetbench_commit": git_commit(workflow_dir),
        "vnetbench_package": package_dir,  # the code the run's scripts imported
        "snakemake_version": snakemake_version,
        "config_sha256": config_hash(config),
        "testbed": preflight.get("testbed", "external hosts (testbed: hosts)"),
        "link_rate": config.get("link_rate") or "unlimited",
        "run_order": {
            "order": config["run_order"],
            "seed": config["run_order_seed"],
            "warmup": config["warmup"],
        },
        "hosts_checked_at": preflight.get("checked_at"),
        "hosts": preflight.get("hosts", {}),
        # The vm platform's QEMU guests as booted (accelerator and why, QEMU, kernel, image), if any.
        "guests": guest_facts(preflight["guests"]) if "accel" in preflight.get("guests", {}) else None,
        # Repetitions until precise: what each round measured and added (results/precision/).
        "precision_rounds": [
            {
                "round": plan["round"],
                "cells": plan["cells"],
                "added_cells": sum(len(b["platforms"]) for b in plan["add"]),
            }
            for plan in read_plans()
        ],
        "config": config,
    }
