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

# A config's run in a results directory of its own ($(1), with $(2)): as `figures`, prepared
# first, the report drawn also when cells failed, the exit status the run's.
define in_own_directory
(mkdir -p $(1) && cd $(1) && ../$(VNETBENCH) prepare --configfile ../$(2)) || exit 1; \
	status=0; $(SNAKEMAKE) --cores $(CORES) figures --configfile $(2) -d $(1) -s $(CURDIR)/Snakefile || status=$$?; \
	$(SNAKEMAKE) -s $(CURDIR)/Snakefile -d $(1) --configfile $(2) --report results/report.html || true; \
	exit $$status
endef

# Today's data paths (config/datapaths.yaml), in a results directory of their own.
datapaths:
	@scripts/setup.sh --no-vm
	@$(call in_own_directory,datapaths,config/datapaths.yaml)

# The platforms with a guest kernel, a sandbox or eBPF host routing (config/sandboxes.yaml),
# in a results directory of their own.
sandboxes:
	@scripts/setup.sh --all
	@$(call in_own_directory,sandboxes,config/sandboxes.yaml)

# Under load (config/load.yaml): latency beside bulk flows, and parallel flows, in a results
# directory of its own.
load:
	@scripts/setup.sh --no-vm
	@$(call in_own_directory,load,config/load.yaml)

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
