"""Command line: bring the embedded testbed up or down by hand, and show its inventory.

    python -m vnetbench testbed up|down|inventory|guests [--configfile config/config.yaml]

`guests` brings the testbed up and boots the vm platform's QEMU guests, from the image the
rule guest_image built (snakemake --cores 1 guest_image).

Run it from the workflow's directory: the testbed's names derive from it.
"""

import argparse
import json
import sys

from . import guests, testbed
from .config import ConfigError, check_yaml_file, load_experiment
from .errors import VnetbenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vnetbench")
    sub = parser.add_subparsers(dest="what", required=True)
    bed = sub.add_parser("testbed", help="the embedded testbed")
    bed.add_argument("action", choices=["up", "down", "inventory", "guests"])
    bed.add_argument("--configfile", default="config/config.yaml")
    args = parser.parse_args(argv)
    try:
        experiment = load_experiment(check_yaml_file(args.configfile), [args.configfile])
    except ConfigError as error:
        print(f"vnetbench: bad config: {error}", file=sys.stderr)
        return 1
    if experiment.testbed is None:
        print(f"vnetbench: {args.configfile} does not use the embedded testbed", file=sys.stderr)
        return 1
    try:
        if args.action == "up":
            print(json.dumps(testbed.up(experiment.testbed, log=_stderr), indent=2))
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
