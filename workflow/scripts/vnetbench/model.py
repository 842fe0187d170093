"""The vocabulary of every layer: tests, hosts, platforms, figures, cells and the experiment.

It imports nothing of the project. Config parsing, hosts, the lab and the analysis all sit
above it and speak it.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the testbed is the lab's; only its type is named here
    from .testbed import Testbed

RR_TESTS = ("TCP_RR", "UDP_RR")
STREAM_TESTS = ("TCP_STREAM", "UDP_STREAM")
TESTS = RR_TESTS + STREAM_TESTS

LOCAL = "local"  # a host that is this machine: commands run without SSH


@dataclass(frozen=True)
class Host:
    """One end of a platform."""

    name: str  # "native client", for messages
    ssh_host: str  # "local" for this machine, else the SSH address
    port: int = 22
    user: str = "root"
    key: str | None = None
    known_hosts: str | None = None
    address: str | None = None  # where netperf sends data (servers)
    netperf: str = "netperf"
    netserver: str = "netserver"
    netserver_port: int = 12865
    connect_timeout: float = 5.0
    identity: str | None = None  # what a measurement is tied to; defaults to `target`

    @property
    def is_local(self) -> bool:
        return self.ssh_host == LOCAL

    @property
    def target(self) -> str:
        return LOCAL if self.is_local else f"{self.user}@{self.ssh_host}:{self.port}"

    @property
    def measured_as(self) -> str:
        return self.identity or self.target


@dataclass(frozen=True)
class Platform:
    name: str
    label: str
    client: Host
    server: Host
    # Its hosts are QEMU guests of the embedded testbed, booted by the first cell that needs them.
    virtual_machine: bool = False


@dataclass(frozen=True)
class Figure:
    name: str
    test: str
    sizes: tuple[int, ...]
    metric: str
    title: str


@dataclass(frozen=True)
class Cell:
    """One netperf run: the unit of work, of caching and of rerun."""

    platform: str
    test: str
    size_bytes: int
    rep: int

    @property
    def path(self) -> str:
        return f"results/raw/{self.platform}/{self.test}/{self.size_bytes}/{self.rep}.json"

    @property
    def log_path(self) -> str:
        return f"results/logs/cells/{self.platform}/{self.test}/{self.size_bytes}/{self.rep}.log"


@dataclass(frozen=True)
class Measurement:
    """What a cell measures: the one thing Snakemake tracks for it (`params.measurement`).
    A change of any field reruns the cell, and nothing else does; so a cell runs from
    exactly this, never from a second reading of the config."""

    test: str
    size_bytes: int
    duration: int  # whole seconds: netperf reads -l as an integer
    netperf_options: tuple[str, ...]
    client: str  # the client host's identity (Host.measured_as)
    netperf: str
    server_address: str
    netserver_port: int

    def as_params(self) -> dict:
        """The tracked form. Its repr is what Snakemake compares between runs: keep the keys
        and their order, or every cell measured so far would run again."""
        return {
            "test": self.test,
            "size_bytes": self.size_bytes,
            "duration": self.duration,
            "netperf_options": list(self.netperf_options),
            "client": self.client,
            "netperf": self.netperf,
            "server_address": self.server_address,
            "netserver_port": self.netserver_port,
        }

    @classmethod
    def from_params(cls, params: dict) -> "Measurement":
        return cls(**{**params, "netperf_options": tuple(params["netperf_options"])})


@dataclass(frozen=True)
class RunSettings:
    """How a cell runs, not what it measures: changing these never reruns a cell."""

    timeout_margin: float = 15.0  # seconds a run may exceed its duration before it is killed
    retries: int = 2  # times a cell restarts a missing netserver and runs again


@dataclass(frozen=True)
class GuestSettings:
    """The QEMU guests of the embedded testbed's vm platform."""

    accel: str = "auto"  # auto: KVM if the probe boot works, else TCG
    memory_mb: int = 256
    boot_timeout: float = 60.0
    kvm_probe_timeout: float = 10.0


@dataclass(frozen=True)
class Experiment:
    testbed: "Testbed | None"  # the embedded testbed, or None for external hosts
    repetitions: int
    duration: int
    netperf_options: tuple[str, ...]
    platforms: dict[str, Platform]
    figures: dict[str, Figure]
    run: RunSettings = RunSettings()
    guest: GuestSettings = GuestSettings()

    def cells(self, figure: str | None = None) -> list[Cell]:
        """Every cell of one figure, or of all figures (each cell once)."""
        figures = [self.figures[figure]] if figure else self.figures.values()
        seen, cells = set(), []
        for fig in figures:
            for platform in self.platforms:
                for size in fig.sizes:
                    for rep in range(1, self.repetitions + 1):
                        cell = Cell(platform, fig.test, size, rep)
                        if cell not in seen:
                            seen.add(cell)
                            cells.append(cell)
        return cells

    def measurement(self, platform: str, test: str, size_bytes: int) -> Measurement:
        """What the cells of one configuration measure."""
        return measurement_for(
            self.platforms[platform], test, size_bytes, self.duration, self.netperf_options
        )


def measurement_for(
    platform: Platform, test: str, size_bytes: int, duration: int, netperf_options: tuple[str, ...] = ()
) -> Measurement:
    """What a cell of `platform` measures at this test, size and duration."""
    return Measurement(
        test=test,
        size_bytes=size_bytes,
        duration=duration,
        netperf_options=tuple(netperf_options),
        client=platform.client.measured_as,
        netperf=platform.client.netperf,
        server_address=platform.server.address,
        netserver_port=platform.server.netserver_port,
    )
