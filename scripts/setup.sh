#!/usr/bin/env bash
# Installs what vnetbench needs, idempotently: netperf (Debian non-free or
# Ubuntu multiverse when it is not on PATH), openssh-server, iproute2, QEMU, and a
# virtualenv in .venv with the pinned Python dependencies and the package itself.
#   scripts/setup.sh           what `make figures` needs
#   scripts/setup.sh --all     and what the platforms with a guest kernel, a sandbox or eBPF
#                              routing need (config/uml.yaml, config/sandboxes.yaml)
#   scripts/setup.sh --tests   all that, and what the tests need besides: munge and slurm-wlm
#                              for the SLURM tests (a real one-node cluster), as root
#   scripts/setup.sh --no-vm   what `make figures` needs but QEMU: for configs without the vm
#                              platform (`make load`, `make datapaths`)
set -euo pipefail
cd "$(dirname "$0")/.."
tests=0 all=0 vm=1
[ "${1:-}" = "--tests" ] && tests=1 all=1
[ "${1:-}" = "--all" ] && all=1
[ "${1:-}" = "--no-vm" ] && vm=0

say() { printf 'setup: %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: installing $1 needs root (apt-get); install it yourself or rerun as root" >&2
    exit 1
  fi
}

# What this script installs is written down, so that scripts/forget.sh --packages can take the
# machine back to a new user's (CI does, to test the path a new machine takes).
installed=/var/lib/vnetbench/installed-packages
apt_updated=0
apt_install() {
  need_root "$*"
  if [ "$apt_updated" -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  mkdir -p "$(dirname "$installed")"
  printf '%s\n' "$@" >>"$installed"
}

enable_netperf_component() {
  # netperf lives in Debian's non-free and Ubuntu's multiverse, which stock
  # sources do not enable.
  . /etc/os-release
  local list=/etc/apt/sources.list.d/vnetbench-netperf.sources
  [ -f "$list" ] && return 0
  case "${ID:-}" in
    debian)
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$VERSION_CODENAME" >"$list" ;;
    ubuntu)
      printf 'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu\nSuites: %s\nComponents: multiverse\nSigned-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg\n' \
        "$VERSION_CODENAME" >"$list" ;;
    *) echo "setup: install netperf 2.7 by hand on ${ID:-this system}" >&2; exit 1 ;;
  esac
}

netperf_available() { [ -n "$(apt-cache madison netperf 2>/dev/null)" ]; }

if ! command -v netperf >/dev/null || ! command -v netserver >/dev/null; then
  say "installing netperf"
  need_root netperf
  apt-get update -qq
  apt_updated=1
  if ! netperf_available; then
    enable_netperf_component
    apt-get update -qq
    apt_updated=1
  fi
  apt_install netperf
fi
missing=()
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || missing+=(iproute2)
command -v timeout >/dev/null || missing+=(coreutils)
# The vm platform: QEMU, and readelf to find the guest binaries' libraries.
if [ "$vm" -eq 1 ]; then
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  command -v readelf >/dev/null || missing+=(binutils)
fi
if [ "$all" -eq 1 ]; then
  # The uml platform: a User-mode Linux guest kernel. The gvisor platform: gVisor's runtime.
  # The ebpf_routing platform: an assembler for its BPF programs (LLVM's; tc loads them).
  command -v linux.uml >/dev/null || missing+=(user-mode-linux)
  command -v runsc >/dev/null || missing+=(runsc)
  command -v llvm-mc >/dev/null || compgen -G "/usr/lib/llvm-*/bin/llvm-mc" >/dev/null || missing+=(llvm)
fi
# Today's data paths (config/datapaths.yaml): NAT rules, WireGuard's tools (and its userspace
# implementation, for a kernel without WireGuard), and the offloads provenance records.
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v wg >/dev/null || missing+=(wireguard-tools)
command -v wireguard-go >/dev/null || missing+=(wireguard-go)
command -v ethtool >/dev/null || [ -x /usr/sbin/ethtool ] || missing+=(ethtool)
if [ "$tests" -eq 1 ]; then
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmctld >/dev/null || missing+=(slurm-wlm)
  command -v squeue >/dev/null || missing+=(slurm-client)
fi
if [ ${#missing[@]} -gt 0 ]; then say "installing ${missing[*]}"; apt_install "${missing[@]}"; fi

python=${PYTHON:-python3}
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then say "installing python3-venv"; apt_install python3-venv; fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating .venv with pinned dependencies"
  "$python" -m venv .venv
  .venv/bin/pip install -q -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  # The package, editable: one import path (workflow/scripts) for tests, benchmarks and tools.
  .venv/bin/pip install -q --no-deps -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$want" >"$stamp"
fi
