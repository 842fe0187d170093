"""Real parts for the tests: netserver and sshd on 127.0.0.1, and workflow copies.

Everything a fixture starts is stopped by its pid at teardown, also when the
test fails.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from vnetbench import netserver, preflight, testbed
from vnetbench.hosts import open_session
from vnetbench.model import Host
from vnetbench.records import failed_cells
from vnetbench.sshd import SSHServer, generate_key, wait_listening

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def pids_of(binary: str, port: int) -> list[int]:
    """Live `binary` processes (netserver, netperf) whose command line names `port`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(binary.encode()) and str(port).encode() in argv:
            pids.append(int(entry.name))
    return pids


def cell_jobs(done) -> int:
    """How many measuring jobs (blocks, and cells of their own) a finished Snakemake run executed."""
    text = done.stdout + done.stderr
    return text.count("rule cell:") + text.count("rule block:")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process we started, by pid, and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def netserver_port():
    """A real netserver on 127.0.0.1 at a free port."""
    port = free_port()
    process = subprocess.Popen(
        ["netserver", "-D", "-p", str(port), "-L", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_listening("127.0.0.1", port)
        yield port
    finally:
        stop(process)


class SSHFixture:
    def __init__(self, directory: Path):
        self.directory = directory
        self.client_key = generate_key(directory / "client_key")
        self.server = SSHServer(directory / "sshd", "127.0.0.1", free_port(), self.client_key)
        self.server.prepare()
        self.known_hosts = directory / "known_hosts"
        self.known_hosts.write_text(self.server.known_hosts_line())
        self.process = None

    def start(self):
        self.process = self.server.start(log=self.directory / "sshd.log")
        wait_listening("127.0.0.1", self.server.port)

    def host_spec(self, **extra) -> dict:
        """The config entry of this sshd as an SSH host."""
        return {
            "host": "127.0.0.1",
            "port": self.server.port,
            "user": "root",
            "key": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            **extra,
        }


@pytest.fixture
def sshd(tmp_path):
    """A real OpenSSH server on 127.0.0.1 that accepts only a generated key."""
    fixture = SSHFixture(tmp_path / "ssh")
    fixture.start()
    try:
        yield fixture
    finally:
        stop(fixture.process)


class Workflow:
    """A copy of the workflow in a temporary directory, run with the real Snakemake."""

    snakemake = SNAKEMAKE

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True)
        for name in ("Snakefile", "rules", "workflow", "profiles", "config", "report", "environment.yml"):
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, directory / name)

    def write_config(self, config: dict, name: str = "config/config.yaml") -> Path:
        path = self.directory / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [SNAKEMAKE, "--cores", "1", *args],
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"snakemake {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def prepare(self, *args: str) -> subprocess.CompletedProcess:
        """`python -m vnetbench prepare`, as `make figures` runs it before Snakemake."""
        return subprocess.run(
            [sys.executable, "-m", "vnetbench", "prepare", *args],
            cwd=self.directory, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip

    def start(self, *args: str) -> subprocess.Popen:
        """Snakemake in the background, to be signalled: its own session, output in one pipe."""
        return subprocess.Popen(
            [SNAKEMAKE, "--cores", "1", *args], cwd=self.directory, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
            # A runner started in the background (CI, `make test &`) ignores SIGINT and its
            # children inherit that: give Snakemake the disposition of a terminal's Ctrl-C.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip

    def planned(self, *args: str) -> dict[str, int]:
        """Jobs a dry run would execute, by rule."""
        done = self.run("-n", *args)
        counts, in_table = {}, False
        for line in (done.stdout + done.stderr).splitlines():
            if line.startswith("Job stats:"):
                in_table = True
            elif in_table:
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
                    counts[parts[0]] = int(parts[1])
                elif parts and parts[0] == "total":
                    break
        return counts

    def records(self) -> list[Path]:
        """The cells' records of measurements, not those of failed cells."""
        return sorted(set((self.directory / "results" / "raw").rglob("*.json")) - set(self.failed()))

    def failed(self) -> list[Path]:
        """The records that failed cells left."""
        return sorted(map(Path, failed_cells((str(self.directory / "results" / "raw"),))))


# Short sized runs, for tests of what a run does rather than of its runs' length (a cell then
# takes about 0.1 s of netperf instead of a timed run's whole second).
SIZED = {"run_length": 0.05, "runs_per_cell": 1}


def tiny_config(netserver_port: int | None = None, **overrides) -> dict:
    """One loopback platform, two small TCP sizes and one UDP size. Sized runs of about 0.05 s,
    as the main config's (config/config.yaml), from a calibration of 1-second timed runs: a test
    that needs timed runs, or cells that last, passes run_length=None."""
    config = {
        "repetitions": 2,
        "duration": 1,
        **SIZED,
        "platforms": {
            "native": {
                "label": "Native (loopback)",
                "client": {"host": "local"},
                "server": {
                    "host": "local",
                    "address": "127.0.0.1",
                    "netserver_port": netserver_port or free_port(),
                },
            }
        },
        "figures": {
            "tcp_small": {"test": "TCP_RR", "sizes": [1, 64], "title": "TCP small"},
            "udp_small": {"test": "UDP_RR", "sizes": [16], "title": "UDP small"},
        },
    }
    config.update(overrides)
    return config


@pytest.fixture
def workflow(tmp_path):
    """A workflow copy; any netserver its runs leave behind is stopped at teardown."""
    flow = Workflow(tmp_path / "flow")
    try:
        yield flow
    finally:
        # The workflow stops its netservers at the end of a run; this covers a
        # test that killed a run half-way.
        config = yaml.safe_load((flow.directory / "config" / "config.yaml").read_text())
        if config.get("testbed") == "embedded":
            testbed.down(testbed.for_workdir(flow.directory), log=lambda line: None)
        for platform in config.get("platforms", {}).values():
            spec = platform.get("server", {})
            if spec.get("host") == "local" and spec.get("address"):
                port = spec.get("netserver_port", 12865)
                host = Host("server", "local", address=spec["address"], netserver_port=port)
                netserver.stop(open_session(host), host)


@contextlib.contextmanager
def lab_running(experiment):
    """The experiment's embedded testbed up and its hosts checked (netserver on every server);
    down afterwards, also on failure, with nothing of it left."""
    bed = experiment.testbed
    testbed.up(bed, log=lambda line: None)
    try:
        preflight.run(experiment)
        yield experiment
    finally:
        testbed.down(bed, log=lambda line: None)
        assert leftovers(bed) == []


def leftovers(bed: testbed.Testbed) -> list[str]:
    """Anything of this testbed instance that still exists."""
    found = [f"netns {name}" for name in testbed.namespaces(bed)]
    if subprocess.run(["ip", "link", "show", bed.root_link], capture_output=True).returncode == 0:
        found.append(f"link {bed.root_link}")
    state_dir = str(bed.state_dir)
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if state_dir in cmdline:
            found.append(f"process {entry.name}: {cmdline}")
    return found


@pytest.fixture
def bed(tmp_path):
    """A testbed that is up; it is taken down at teardown, and must leave nothing."""
    this = testbed.for_workdir(tmp_path)
    testbed.up(this, log=lambda line: None)
    try:
        yield this
    finally:
        testbed.down(this, log=lambda line: None)
        assert leftovers(this) == []
