# Measuring: a job per block (one repetition of one test and size, its platforms' runs
# interleaved), whose outputs are its cells' records; a job per cell for a platform that is no
# block member (a virtual machine, whose guests boot in its own job). See vnetbench.blocks.

if BLOCK_MEMBERS:

    rule block:
        output:
            # update: a record that measures what the block asks is kept, not deleted before
            # the job (vnetbench.broker); one it replaces goes to results/replaced/.
            [
                update(f"results/raw/{name}/{{test}}/{{size_bytes}}/{{rep}}.json")
                for name in BLOCK_MEMBERS
            ],
        log:
            [
                f"results/logs/cells/{name}/{{test}}/{{size_bytes}}/{{rep}}.log"
                for name in BLOCK_MEMBERS
            ],
        # Not a parameter: the order never reruns a measurement.
        priority: block_priority
        conda:
            "../environment.yml"
        resources:
            # One job at a time on a testbed: cells must not disturb each other.
            testbed=1,
        params:
            measurements=block_measurements,
        shell:
            blocks.SHELL


if SOLO:

    rule cell:
        input:
            unpack(guest_image_for),
        output:
            update("results/raw/{platform}/{test}/{size_bytes}/{rep}.json"),
        log:
            "results/logs/cells/{platform}/{test}/{size_bytes}/{rep}.log",
        wildcard_constraints:
            platform="|".join(SOLO),
        priority: cell_priority
        conda:
            "../environment.yml"
        resources:
            testbed=1,
        params:
            measurements=cell_measurements,
        shell:
            blocks.SHELL
