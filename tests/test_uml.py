"""The uml platform: User-mode Linux guests with their own kernel, booted with the testbed,
reached over SSH like any host, carrying real netperf cells across the machines' bridges, and
all of it (guest kernels, taps, namespaces) gone after `down`."""

import json
import os
import platform
import subprocess

import pytest
from vnetbench import cell, testbed, uml
from vnetbench.config import load_experiment
from vnetbench.model import Cell, RunSettings

from .conftest import lab_running, tiny_config

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(uml.kernel() is None, reason=uml.MISSING),
]


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uml")
    platforms = {name: {"label": name, "embedded": name} for name in ("native", "uml")}
    # Timed runs: cells run here directly, without the calibration a workflow run makes.
    config = tiny_config(testbed="embedded", platforms=platforms, run_length=None)
    experiment = load_experiment(config, workdir=str(workdir))
    with lab_running(experiment):
        yield experiment
    # A tap still held by a guest would outlive its namespace, moved to the root namespace.
    assert not {"ut-ua", "um-ua", "ut-ub", "um-ub"} & set(os.listdir("/sys/class/net"))


def test_a_guest_runs_its_own_kernel_and_carries_cells_across_the_bridge(guests):
    bed = guests.testbed
    uml_platform = guests.platforms["uml"]
    kernels = {}
    for host in (uml_platform.client, uml_platform.server):
        done = subprocess.run(
            ["ssh", "-i", host.key, "-o", f"UserKnownHostsFile={host.known_hosts}",
             "-o", "StrictHostKeyChecking=yes",
             f"root@{host.ssh_host}", "uname -r; cat /proc/cmdline"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        kernels[host.name] = done.stdout
    for shown in kernels.values():
        release, cmdline = shown.splitlines()[:2]
        assert release != platform.release() and "rootfstype=hostfs" in cmdline  # not the host's kernel
    # The data path: the guest's tap is a port of its machine's bridge, and a cell crosses it.
    ports = json.loads(subprocess.run(["ip", "-n", bed.netns("a"), "-j", "link", "show", "master", "br0"],
                                      capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert "ut-ua" in {port["ifname"] for port in ports}
    settings = RunSettings(timeout_margin=20, retries=0)
    record = cell.measure(Cell("uml", "TCP_RR", 1, 1), uml_platform, guests.measurement("uml", "TCP_RR", 1),
                          settings, log=lambda line: None)  # fmt: skip
    assert record["transactions_per_s"] > 0
    facts = testbed.inventory(bed)["paths"]["uml"]
    assert facts["kernel_version"] and all(guest["boot_s"] > 0 for guest in facts["guests"].values())
