# The two entry points of the README. Each installs what is missing first.
SNAKEMAKE := .venv/bin/snakemake
CORES ?= 1

.PHONY: figures test setup lint bench clean-cache

figures: setup
	$(SNAKEMAKE) --cores $(CORES) figures

test: setup
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
