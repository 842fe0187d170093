"""The vm platform: real QEMU guests built from Debian packages, reached over real SSH."""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from vnetbench import guest_image, guests, netperf, netserver, testbed
from vnetbench.hosts import HostKeyRejected, open_session
from vnetbench.model import GuestSettings

from .conftest import cell_jobs, leftovers, tiny_config

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and taps need root"),
    pytest.mark.skipif(shutil.which(guests.QEMU) is None, reason="qemu-system-x86 is not installed"),
]
RC = Path(__file__).resolve().parents[1] / "workflow" / "guest" / "rc"
QUIET = {"log": lambda line: None}


@pytest.fixture(scope="module")
def probed(tmp_path_factory) -> GuestSettings:
    """Guest settings whose KVM probe outcome is this module's own, never the machine's
    (/run): the first boot of the module takes the probe path of a new machine."""
    cache = tmp_path_factory.mktemp("probe") / "kvm-probe.json"
    return GuestSettings(kvm_probe_cache=str(cache), kvm_probe_timeout=2)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> guests.Image:
    """The guest image, built once from Debian packages by the workflow's own builder."""
    out = tmp_path_factory.mktemp("guest")
    paths = guests.cached_image(out)
    guest_image.build("linux-image-cloud-amd64", RC, paths.kernel, paths.initramfs, paths.manifest, **QUIET)
    return paths


def bridge_addresses(bed: testbed.Testbed) -> list[str]:
    return [
        subprocess.run(
            ["ip", "-n", bed.netns(m), "-br", "link", "show", "br0"], capture_output=True, text=True
        ).stdout.split()[2]
        for m in ("a", "b")
    ]


def tap(bed: testbed.Testbed, machine: str) -> dict:
    shown = subprocess.run(
        ["ip", "-j", "-n", bed.netns(machine), "link", "show", guests.TAP],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(shown.stdout)[0]


@pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK), reason="no /dev/kvm: nothing to probe")
def test_a_new_machine_probes_kvm_falls_back_to_tcg_and_the_guests_measure(bed, image, tmp_path):
    """The path of a machine that never ran the project: no kept probe outcome, a probe boot
    that fails (10 ms is too short for any KVM boot; here KVM guests hang anyway), then both
    guests under TCG with their taps up in their bridges, measuring."""
    cache = tmp_path / "kvm-probe.json"
    settings = GuestSettings(kvm_probe_cache=str(cache), kvm_probe_timeout=0.01)
    said = []
    state = guests.ensure(bed, image, settings, log=said.append)
    assert state["accel"] == "tcg" and state["accel_reason"].startswith("KVM probe boot failed"), said
    assert json.loads(cache.read_text())["works"] is False
    for machine in ("a", "b"):
        link = tap(bed, machine)
        assert "UP" in link["flags"] and link["master"] == "br0", link
    client, server = bed.host("va", "client", "vm"), bed.host("vb", "server", "vm")
    assert netserver.ensure(open_session(server), server).startswith("started")
    session = open_session(client)
    try:
        argv = netperf.command("TCP_RR", 1, 1, server.address, server.netserver_port)
        assert netperf.parse_result("TCP_RR", 1, session.run(argv, timeout=15).output).transactions > 0
    finally:
        session.close()

    # A later boot skips the probe: its outcome is kept.
    guests.stop(bed, **QUIET)
    again = guests.ensure(bed, image, settings, **QUIET)
    assert again["accel"] == "tcg" and "kept until the host reboots" in again["accel_reason"]

    # A guest network that is not right is named, with the evidence.
    netns_a = bed.netns("a")
    subprocess.run(["ip", "-n", netns_a, "link", "set", guests.TAP, "down"], check=True)
    with pytest.raises(guests.GuestBootError, match=r"machine A .*: tapvm is down"):
        guests.check_network(bed, timeout=1)
    subprocess.run(["ip", "-n", netns_a, "link", "set", guests.TAP, "nomaster", "up"], check=True)
    with pytest.raises(guests.GuestBootError, match=r"tapvm is not a port of br0 \(master: none\)"):
        guests.check_network(bed, timeout=1)
    subprocess.run(["ip", "-n", netns_a, "link", "set", guests.TAP, "master", "br0"], check=True)
    subprocess.run(["ip", "-n", bed.netns("b"), "link", "set", "wire", "down"], check=True)
    with pytest.raises(
        guests.GuestBootError, match=r"guest vb does not answer on its data address 198.18.0.22"
    ):
        guests.check_network(bed, timeout=1)


def test_a_guest_boots_answers_ssh_with_strict_host_keys_and_serves_netperf(bed, image, probed):
    before = bridge_addresses(bed)
    state = guests.ensure(bed, image, probed, **QUIET)
    # A tap joining a bridge must not change the bridge's address: the other machine's
    # neighbour entry would go stale and native cells hang (seen before the fix).
    assert bridge_addresses(bed) == before
    manifest = json.loads(image.manifest.read_text())
    assert state["accel"] in ("kvm", "tcg") and state["accel_reason"]
    assert all(0 < entry["boot_s"] < 60 for entry in state["guests"].values())
    client, server = bed.host("va", "client", "vm"), bed.host("vb", "server", "vm")

    session = open_session(client)
    try:
        kernel = session.run(["uname", "-r"], timeout=10).output.strip()
        assert kernel == manifest["kernel_release"] != os.uname().release
        # virtio-net is the data NIC, as netfront is in a Xen guest.
        driver = session.run(["readlink", "/sys/class/net/eth0/device/driver"], timeout=10).output
        assert driver.strip().endswith("virtio_net")
        assert netserver.ensure(open_session(server), server).startswith("started")
        argv = netperf.command("TCP_RR", 1, 1, server.address, server.netserver_port)
        result = session.run(argv, timeout=15)
        assert netperf.parse_result("TCP_RR", 1, result.output).transactions > 0
    finally:
        session.close()

    # Strict host keys: a guest whose key is not the one generated for it is refused.
    wrong = bed.state_dir / "known_hosts_wrong"
    _, other_key = guests.dropbear_host_key()
    wrong.write_text(f"[{client.ssh_host}]:{client.port} {other_key}\n")
    with pytest.raises(HostKeyRejected):
        open_session(replace(client, known_hosts=str(wrong))).run(["true"], timeout=10)

    # A second ensure finds them running: no new boot.
    assert guests.ensure(bed, image, probed, **QUIET)["guests"] == state["guests"]


def test_stop_and_testbed_down_leave_no_qemu_tap_or_namespace(tmp_path, image, probed):
    bed = testbed.for_workdir(tmp_path)
    testbed.up(bed, **QUIET)
    try:
        pids = [entry["pid"] for entry in guests.ensure(bed, image, probed, **QUIET)["guests"].values()]
        assert all(guests.qemu_alive(pid) for pid in pids)
        guests.stop(bed, **QUIET)
        assert not any(guests.qemu_alive(pid) for pid in pids)
        for machine in ("a", "b"):
            links = subprocess.run(
                ["ip", "-n", bed.netns(machine), "-o", "link"], capture_output=True, text=True
            )
            assert "tapvm" not in links.stdout
        # Booted again, then the whole testbed goes down with them.
        pids = [entry["pid"] for entry in guests.ensure(bed, image, probed, **QUIET)["guests"].values()]
    finally:
        testbed.down(bed, **QUIET)
    assert not any(guests.qemu_alive(pid) for pid in pids)
    assert leftovers(bed) == []
    assert not (bed.state_dir / "guests.json").exists()


def test_a_guest_that_does_not_come_up_fails_with_its_console_log_and_leaves_nothing(bed, image):
    settings = GuestSettings(accel="tcg", boot_timeout=0.5)  # no probe
    with pytest.raises(guests.GuestBootError) as failure:
        guests.ensure(bed, image, settings, **QUIET)
    message = str(failure.value)
    assert "guest va on machine A (tcg): no 'vnetbench-guest-ready' line within 0.5 s" in message
    assert "command: ip netns exec" in message and "console log (last 40 lines):" in message
    assert not [p for p in leftovers(bed) if "qemu" in p]
    # The run's other vm cells get the same evidence at once, without booting again.
    with pytest.raises(guests.GuestBootError, match="kept from this run's first boot attempt"):
        guests.ensure(bed, image, GuestSettings(accel="tcg"), **QUIET)


def test_the_image_holds_no_key_and_is_reproducible(image, tmp_path):
    again = guests.cached_image(tmp_path)
    guest_image.build("linux-image-cloud-amd64", RC, again.kernel, again.initramfs, again.manifest, **QUIET)
    assert again.initramfs.read_bytes() == image.initramfs.read_bytes()
    manifest = json.loads(again.manifest.read_text())
    assert set(guest_image.USERLAND_PACKAGES) <= set(manifest["packages"])
    assert manifest["kernel_package"] in manifest["packages"]
    # Keys are per testbed and added at boot: the cached image holds none.
    names = cpio_names(gzip.decompress(image.initramfs.read_bytes()))
    assert {
        "init",
        "bin/busybox",
        "usr/bin/netperf",
        "usr/sbin/dropbear",
        "lib/modules/virtio_net.ko",
    } <= names
    assert not {name for name in names if "host_key" in name or "authorized_keys" in name}


def cpio_names(archive: bytes) -> set[str]:
    """Member names of a newc archive, read independently of the writer."""
    names, offset = set(), 0
    while True:
        header = archive[offset : offset + 110]
        assert header[:6] == b"070701", f"bad header at {offset}"
        size, name_size = int(header[54:62], 16), int(header[94:102], 16)
        name = archive[offset + 110 : offset + 110 + name_size - 1].decode()
        if name == "TRAILER!!!":
            return names
        names.add(name)
        offset += 110 + name_size
        offset += -offset % 4
        offset += size + (-size % 4)


def test_tiny_grid_with_the_vm_platform_runs_from_another_working_directory(workflow, tmp_path):
    """`snakemake -s CHECKOUT/Snakefile -d WORKDIR --configfile ...`, from a third directory:
    the workflow finds its own files (scripts, guest recipe, schema, profile), and the results,
    the guest image and the testbed all belong to WORKDIR."""
    platforms = {
        "native": {"label": "Native", "embedded": "native"},
        "vm": {"label": "QEMU/{accel} guest (virtio-net, bridged)", "embedded": "vm"},
    }
    # The probe path of a new machine: no kept KVM probe outcome.
    guest = {"kvm_probe_cache": str(tmp_path / "kvm-probe.json"), "kvm_probe_timeout": 2}
    config = tiny_config(testbed="embedded", platforms=platforms, guest=guest)
    config["figures"] = {"tcp_small": {"test": "TCP_RR", "sizes": [1, 64], "title": "TCP small"}}
    experiment = tmp_path / "experiment"
    experiment.mkdir()
    (experiment / "vm.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    snakefile = workflow.directory / "Snakefile"

    def snakemake(*args: str) -> subprocess.CompletedProcess:
        argv = [workflow.snakemake, "--cores", "1", "-s", str(snakefile), "-d", str(experiment)]
        done = subprocess.run(
            [*argv, "--configfile", str(experiment / "vm.yaml"), *args],
            cwd=elsewhere, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    bed = testbed.for_workdir(experiment)
    try:
        done = snakemake()
    finally:
        testbed.down(bed, log=lambda line: None)
    # The checkout's default config (four platforms) was replaced, not merged into.
    assert "8 cells: 8 done, 0 failed" in done.stderr
    assert (experiment / "resources" / "guest" / "manifest.json").exists()
    assert not (workflow.directory / "results" / "raw").exists()
    assert not list(elsewhere.iterdir())
    assert leftovers(bed) == []

    records = [json.loads(path.read_text()) for path in (experiment / "results" / "raw").rglob("*.json")]
    vm = [record for record in records if record["platform"] == "vm"]
    assert len(records) == 8 and len(vm) == 4
    assert all(record["guest"]["accel"] in ("kvm", "tcg") for record in vm)
    assert all(record["client_facts"]["kernel"] == vm[0]["guest"]["kernel_release"] for record in vm)
    accel = vm[0]["guest"]["accel"].upper()
    table = (experiment / "results" / "figures" / "tcp_small.csv").read_text()
    assert f"QEMU/{accel} guest (virtio-net, bridged)" in table and "{accel}" not in table
    provenance = json.loads((experiment / "results" / "provenance.json").read_text())
    assert provenance["guests"]["accel"] == vm[0]["guest"]["accel"]
    assert provenance["guests"]["kernel_release"] == vm[0]["guest"]["kernel_release"]
    # Snakemake's report: no placeholder left raw in the workflow's description either.
    snakemake("--report", str(experiment / "report.html"))
    report = (experiment / "report.html").read_text()
    description = report[report.index("reproduces Figures 3-7") :][:1500]
    assert "{accel}" not in description and "QEMU/KVM or TCG guest (virtio-net, bridged)" in description

    # Cached: nothing reruns; a touched guest script neither (it is tracked by content); a
    # changed one rebuilds the image and remeasures the vm cells only.
    rc = workflow.directory / "workflow" / "guest" / "rc"
    rc.touch()
    done = snakemake("-n")
    assert "Nothing to be done" in done.stdout + done.stderr
    rc.write_text(rc.read_text() + "# changed\n")
    done = snakemake("-n")
    planned = done.stdout + done.stderr
    assert re.search(r"^guest_image\s+1$", planned, re.M) and re.search(r"^cell\s+4$", planned, re.M)


def test_a_crash_then_ctrl_c_mid_vm_run_leave_no_qemu_behind(workflow, tmp_path):
    """A crash while the guests run: nothing runs the hooks, and the next run cleans up what
    is left, boots afresh and resumes; Ctrl-C in that run: the hooks stop its guests."""
    platforms = {"native": {"label": "Native", "embedded": "native"}, "vm": {"label": "VM", "embedded": "vm"}}
    guest = {"kvm_probe_cache": str(tmp_path / "kvm-probe.json"), "kvm_probe_timeout": 2}
    config = tiny_config(testbed="embedded", platforms=platforms, repetitions=3, guest=guest, run_length=None)
    config["figures"] = {"tcp": {"test": "TCP_RR", "sizes": [1], "title": "TCP"}}
    workflow.write_config(config)
    bed = testbed.for_workdir(workflow.directory)
    state_file = guests.state_file(bed)

    def guest_pids_once_vm_cells_measured(run, measured: int) -> list[int]:
        deadline = time.monotonic() + 120
        while len([path for path in workflow.records() if path.parts[-4] == "vm"]) < measured:
            assert time.monotonic() < deadline and run.poll() is None, "no vm cell was measured"
            time.sleep(0.1)
        return [entry["pid"] for entry in json.loads(state_file.read_text())["guests"].values()]

    run = workflow.start()
    crashed = guest_pids_once_vm_cells_measured(run, 1)
    run.send_signal(signal.SIGKILL)
    output, _ = run.communicate(timeout=60)
    assert run.returncode != 0, output
    assert all(guests.qemu_alive(pid) for pid in crashed)  # nothing ran the hooks
    workflow.run("--unlock")

    run = workflow.start()  # cleans up whatever is left, boots afresh, resumes
    resumed = guest_pids_once_vm_cells_measured(run, 2)
    assert not set(resumed) & set(crashed)
    assert not any(guests.qemu_alive(pid) for pid in crashed)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    assert run.returncode != 0, output
    assert not any(guests.qemu_alive(pid) for pid in resumed)
    assert leftovers(bed) == []


def test_a_platform_that_cannot_work_costs_the_others_nothing(workflow, tmp_path):
    """Guests that never come up (a boot bound no guest can meet): native is measured and
    every figure, table, ratio, report and paper comparison is drawn, naming vm as not
    measured; the run fails; the next run measures only the vm cells, and once they work,
    draws them too."""
    platforms = {
        "native": {"label": "Native", "embedded": "native"},
        "vm": {"label": "QEMU/{accel} guest", "embedded": "vm"},
    }
    broken = {"accel": "tcg", "boot_timeout": 0.5}
    config = tiny_config(testbed="embedded", platforms=platforms, guest=broken)
    config["figures"]["tcp_small"]["extra_metrics"] = ["latency"]
    workflow.write_config(config)
    bed = testbed.for_workdir(workflow.directory)

    done = workflow.run(check=False, timeout=600)
    assert done.returncode != 0
    assert "vnetbench: 12 cells: 6 done, 6 failed, 0 not yet run" in done.stderr
    assert (
        "platform vm: every cell failed: guest va on machine A (tcg): no 'vnetbench-guest-ready'"
        in done.stderr
    )
    results = workflow.directory / "results"
    for name in ("tcp_small", "udp_small"):
        for path in (f"{name}.csv", f"{name}.pdf", f"{name}_vs_native.csv", f"{name}_vs_native.pdf"):
            assert (results / "figures" / path).exists(), path
    assert (results / "figures" / "tcp_small_latency.pdf").exists()
    table = (results / "figures" / "tcp_small.csv").read_text()
    vm_rows = [line for line in table.splitlines() if line.split(",")[1] == "vm"]
    assert vm_rows and all(",0," in line and "missing:1,2" in line for line in vm_rows)
    assert "Not measured in this run: vm (6 cells)" in (results / "paper_comparison.md").read_text()
    assert (results / "provenance.json").exists()
    assert leftovers(bed) == []
    workflow.run("--report", "results/report.html")
    assert "tcp_small" in (results / "report.html").read_text()

    # Without the explicit step nothing is measured again; with it, the vm cells only.
    assert "cell" not in workflow.planned()
    config["guest"] = {"accel": "tcg"}  # a boot bound a guest can meet
    workflow.write_config(config)
    assert "6 cells failed in an earlier run" in workflow.prepare().stderr
    done = workflow.run(timeout=600)
    assert cell_jobs(done) == 6 and "12 cells: 12 done, 0 failed" in done.stderr
    assert ",vm," in (results / "figures" / "tcp_small_vs_native.csv").read_text()
    assert "missing" not in (results / "figures" / "tcp_small.csv").read_text().split("\n", 1)[1]
    assert leftovers(bed) == []
