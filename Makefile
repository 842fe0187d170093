# The two entry points of the README. Each installs what is missing first.
SNAKEMAKE := .venv/bin/snakemake
CORES ?= 1

.PHONY: figures test setup lint bench testbed testbed-up testbed-down testbed-guests

figures: setup
	$(SNAKEMAKE) --cores $(CORES) figures
	$(SNAKEMAKE) --report results/report.html

test:
	@scripts/setup.sh --tests
	.venv/bin/pytest

setup:
	@scripts/setup.sh

lint: setup
	.venv/bin/ruff check workflow tests bench
	.venv/bin/ruff format --check workflow tests bench
	.venv/bin/snakefmt --check Snakefile rules
	$(SNAKEMAKE) --lint

bench: setup
	.venv/bin/python bench/cell_overhead.py
	.venv/bin/python bench/dry_run.py
	.venv/bin/python bench/sweep.py 2000

# The embedded testbed by hand, for debugging: inventory (hosts, addresses, ssh lines), up, down.
VNETBENCH := .venv/bin/python -m vnetbench
testbed: setup
	$(VNETBENCH) testbed inventory
testbed-up: setup
	$(VNETBENCH) testbed up
testbed-down: setup
	$(VNETBENCH) testbed down
testbed-guests: setup
	$(SNAKEMAKE) --cores 1 guest_image
	$(VNETBENCH) testbed guests
