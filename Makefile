# The two entry points of the README. Each installs what is missing first.
SNAKEMAKE := .venv/bin/snakemake
CORES ?= 1

.PHONY: figures datapaths sandboxes load test setup lint bench compare testbed testbed-up testbed-down testbed-guests forget

# First the blocks of cells that failed earlier are set to be measured again, and an earlier
# version's results upgraded (python -m vnetbench prepare). The report is built also when cells
# failed (the figures are drawn from what was measured); the exit status is the run's.
VNETBENCH := .venv/bin/python -m vnetbench
figures: setup
	@$(VNETBENCH) prepare
	@status=0; $(SNAKEMAKE) --cores $(CORES) figures || status=$$?; \
	 $(SNAKEMAKE) --report results/report.html || true; exit $$status

# Today's data paths (config/datapaths.yaml), in a results directory of their own.
datapaths: setup
	@mkdir -p datapaths && cd datapaths && ../$(VNETBENCH) prepare --configfile ../config/datapaths.yaml
	@status=0; $(SNAKEMAKE) --cores $(CORES) figures --configfile config/datapaths.yaml -d datapaths \
	   -s $(CURDIR)/Snakefile || status=$$?; \
	 $(SNAKEMAKE) -s $(CURDIR)/Snakefile -d datapaths --configfile config/datapaths.yaml \
	   --report results/report.html || true; exit $$status

# The platforms with a guest kernel, a sandbox or eBPF host routing (config/sandboxes.yaml),
# in a results directory of their own.
sandboxes:
	@scripts/setup.sh --all
	@mkdir -p sandboxes && cd sandboxes && ../$(VNETBENCH) prepare --configfile ../config/sandboxes.yaml
	@status=0; $(SNAKEMAKE) --cores $(CORES) figures --configfile config/sandboxes.yaml -d sandboxes \
	   -s $(CURDIR)/Snakefile || status=$$?; \
	 $(SNAKEMAKE) -s $(CURDIR)/Snakefile -d sandboxes --configfile config/sandboxes.yaml \
	   --report results/report.html || true; exit $$status

# Under load (config/load.yaml): latency beside bulk flows, and parallel flows, in a results
# directory of its own.
load: setup
	@mkdir -p load && cd load && ../$(VNETBENCH) prepare --configfile ../config/load.yaml
	@status=0; $(SNAKEMAKE) --cores $(CORES) figures --configfile config/load.yaml -d load \
	   -s $(CURDIR)/Snakefile || status=$$?; \
	 $(SNAKEMAKE) -s $(CURDIR)/Snakefile -d load --configfile config/load.yaml \
	   --report results/report.html || true; exit $$status

test:
	@scripts/setup.sh --tests
	.venv/bin/pytest

setup:
	@scripts/setup.sh

# Forget what earlier runs kept outside the checkout (the KVM probe's outcome, ...): the next
# run takes a new machine's path. `scripts/forget.sh --packages` also removes what setup installed.
forget:
	@scripts/forget.sh

lint: setup
	.venv/bin/ruff check workflow tests bench
	.venv/bin/ruff format --check workflow tests bench
	.venv/bin/snakefmt --check Snakefile rules
	$(SNAKEMAKE) --lint

# The benchmarks of a run on this machine (about an hour); see README.md for the others.
bench: setup
	.venv/bin/python bench/cell_overhead.py
	.venv/bin/python bench/noise.py
	.venv/bin/python bench/latency_cost.py
	.venv/bin/python bench/short_runs.py 12 0.05
	.venv/bin/python bench/interleave.py 16
	.venv/bin/python bench/change_false_alarms.py 21
	@if [ -d results/raw ]; then .venv/bin/python bench/paired_vs_unpaired.py results; \
	 else echo "bench/paired_vs_unpaired.py: no results/raw yet (make figures first)"; fi
	.venv/bin/python bench/dry_run.py

# Two runs compared: make compare A=results-before B=results (exit 1 when something regressed).
compare: setup
	.venv/bin/python -m vnetbench compare "$(A)" "$(B)" --out comparison

# The embedded testbed by hand, for debugging: inventory (hosts, addresses, ssh lines), up, down.
testbed: setup
	$(VNETBENCH) testbed inventory
testbed-up: setup
	$(VNETBENCH) testbed up
testbed-down: setup
	$(VNETBENCH) testbed down
testbed-guests: setup
	$(SNAKEMAKE) --cores 1 guest_image
	$(VNETBENCH) testbed guests
