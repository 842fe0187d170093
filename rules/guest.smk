# The vm platform's guest image: kernel and initramfs from Debian packages, cached
# in resources/ (outside results/) and rebuilt only when its inputs change.


rule guest_image:
    input:
        rc="workflow/guest/rc",
        builder="workflow/scripts/vnetbench/guest_image.py",
    output:
        kernel=GUEST_IMAGE["kernel"],
        initramfs=GUEST_IMAGE["initramfs"],
        manifest=GUEST_IMAGE["manifest"],
    log:
        "results/logs/guest_image.log",
    # Before every cell: otherwise all vm cells would wait for it, and then run last.
    priority: max(RUN_RANKS.values(), default=0) + 1
    localrule: True
    conda:
        "../environment.yml"
    params:
        kernel_package=config["guest"]["kernel_package"],
    script:
        "../workflow/scripts/build_guest_image.py"
