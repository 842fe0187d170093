#!/usr/bin/env bash
# Forgets what vnetbench keeps on this machine outside its checkout, so that the next run takes
# the path of a machine that never ran it (CI runs this first).
#   scripts/forget.sh             the KVM probe's outcome (/run), the machines' turn lock, netserver
#                                 pid files (/tmp), a SLURM test cluster's config
#   scripts/forget.sh --packages  and the packages scripts/setup.sh installed, with the package
#                                 source it added for netperf
# A checkout's own state (.venv, .vnetbench, resources/guest, results) goes with the checkout.
# Nothing is stopped here: runs and tests stop what they start; a running one keeps its state.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'forget: %s\n' "$*"; }

for path in /run/vnetbench-* /run/lock/vnetbench-* /tmp/vnetbench-netserver-*.pid; do
  [ -e "$path" ] || continue
  rm -f -- "$path" && say "removed $path"
done
# Written by tests/slurm_cluster.py only while a test cluster runs; one left behind is ours.
if [ -f /etc/slurm/slurm.conf ] && grep -q '^ClusterName=vnetbench$' /etc/slurm/slurm.conf; then
  rm -f /etc/slurm/slurm.conf && say "removed /etc/slurm/slurm.conf (a vnetbench test cluster's)"
fi

[ "${1:-}" = "--packages" ] || exit 0
installed=/var/lib/vnetbench/installed-packages
if [ -s "$installed" ]; then
  mapfile -t packages < <(sort -u "$installed")
  say "purging what setup installed: ${packages[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" >/dev/null 2>&1 ||
    say "apt-get purge failed; packages may remain"
  rm -f "$installed"
fi
if [ -f /etc/apt/sources.list.d/vnetbench-netperf.sources ]; then
  rm -f /etc/apt/sources.list.d/vnetbench-netperf.sources && say "removed the netperf package source"
fi
