"""Command line: prepare a run; bring the embedded testbed up or down by hand, and show its
inventory; and compare two runs.

    python -m vnetbench prepare [--configfile config/config.yaml]
    python -m vnetbench testbed up|down|inventory|guests [--configfile config/config.yaml]
    python -m vnetbench compare A B [--out DIR] [--gate METRIC,...] [--min-effect 0.10] ...

`prepare` (make figures runs it before Snakemake) moves the blocks of failed cells to
results/replaced/, so that the run measures them again, and upgrades the records of an earlier
version so that the run does not (vnetbench.blocks).

`guests` brings the testbed up and boots the vm platform's QEMU guests, from the image the
rule guest_image built (snakemake --cores 1 guest_image).

Run it from the workflow's directory: the testbed's names derive from it.
"""

import argparse
import json
import sys

from . import blocks, guests, testbed
from .config import ConfigError, check_yaml_file, load_experiment
from .errors import VnetbenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vnetbench")
    sub = parser.add_subparsers(dest="what", required=True)
    bed = sub.add_parser("testbed", help="the embedded testbed")
    bed.add_argument("action", choices=["up", "down", "inventory", "guests"])
    bed.add_argument("--configfile", default="config/config.yaml")
    prepare = sub.add_parser("prepare", help="before a run: retry failed cells' blocks, upgrade old results")
    prepare.add_argument("--configfile", default="config/config.yaml")
    versus = sub.add_parser(
        "compare", help="B against A: what a change made faster or slower (exit 1 if slower)"
    )
    versus.add_argument(
        "a", metavar="A", help="results folder before the change (or several, comma-separated)"
    )
    versus.add_argument(
        "b", metavar="B", help="results folder after the change (or several, comma-separated)"
    )
    versus.add_argument("--out", default="comparison", help="where the CSV, summary and PDFs go")
    versus.add_argument(
        "--baseline", default="native", help="the platform the relative comparison divides by"
    )
    versus.add_argument(
        "--alpha",
        type=float,
        default=0.01,
        help="error rate kept: family-wise over the gated tests, false discovery over all",
    )
    versus.add_argument(
        "--min-effect", type=float, default=0.10, help="smallest change of a value that counts"
    )
    versus.add_argument(
        "--relative-min-effect", type=float, default=0.05,
        help="smallest change of a platform's ratio to the baseline that counts",
    )  # fmt: skip
    versus.add_argument(
        "--gate", default="throughput_mbit_s", help="comma-separated metrics whose regression fails"
    )
    args = parser.parse_args(argv)
    if args.what == "compare":
        from .change_cli import run

        return run(args)
    try:
        experiment = load_experiment(check_yaml_file(args.configfile), [args.configfile])
    except ConfigError as error:
        print(f"vnetbench: bad config: {error}", file=sys.stderr)
        return 1
    if args.what == "prepare":
        blocks.upgrade(experiment, log=_stderr)
        failed = blocks.retry(experiment, log=_stderr)
        if failed:
            _stderr(f"vnetbench: {len(failed)} cells failed in an earlier run; their blocks run again")
        return 0
    if experiment.testbed is None:
        print(f"vnetbench: {args.configfile} does not use the embedded testbed", file=sys.stderr)
        return 1
    try:
        if args.action == "up":
            testbed.up(experiment.testbed, log=_stderr)
            print(json.dumps(testbed.inventory(experiment.testbed), indent=2))
        elif args.action == "guests":
            image = guests.cached_image()
            if not image.manifest.exists():
                print("vnetbench: no guest image; build it: snakemake --cores 1 guest_image", file=sys.stderr)
                return 1
            testbed.up(experiment.testbed, log=_stderr)
            print(
                json.dumps(guests.ensure(experiment.testbed, image, experiment.guest, log=_stderr), indent=2)
            )
        elif args.action == "down":
            testbed.down(experiment.testbed, log=_stderr)
        else:
            state = "up" if testbed.is_up(experiment.testbed) else "down"
            print(json.dumps({"state": state, **testbed.inventory(experiment.testbed)}, indent=2))
    except VnetbenchError as error:
        print(f"vnetbench: {error}", file=sys.stderr)
        return 1
    return 0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
