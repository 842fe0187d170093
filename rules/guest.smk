# The vm platform's guest image: kernel and initramfs from Debian packages, cached
# in resources/ (outside results/) and rebuilt only when what it is built from changes.
from vnetbench import guest_image


rule guest_image:
    output:
        kernel=GUEST_IMAGE["kernel"],
        initramfs=GUEST_IMAGE["initramfs"],
        manifest=GUEST_IMAGE["manifest"],
    log:
        "results/logs/guest_image.log",
    # Before every cell: otherwise all vm cells would wait for it, and then run last.
    priority: order.FIRST
    localrule: True
    conda:
        "../environment.yml"
    params:
        kernel_package=config["guest"]["kernel_package"],
        # The boot script and the builder, by content (see guest_image.recipe_sha256).
        recipe=guest_image.recipe_sha256(),
    script:
        "../workflow/scripts/build_guest_image.py"
