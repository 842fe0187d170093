"""Snakemake adapter: build the vm platform's guest image. See vnetbench.guest_image."""

import sys
from pathlib import Path

from vnetbench import guest_image

snakemake = globals()["snakemake"]
output = snakemake.output

with open(snakemake.log[0], "w") as log_file:

    def log(line: str) -> None:
        print(line, file=log_file, flush=True)

    try:
        guest_image.build(
            snakemake.params.kernel_package,
            guest_image.RC,
            Path(output.kernel),
            Path(output.initramfs),
            Path(output.manifest),
            log,
        )
    except (guest_image.GuestImageError, OSError) as error:
        log(f"FAILED: {error}")
        print(f"vnetbench: guest image: {error}", file=sys.stderr)
        sys.exit(1)
