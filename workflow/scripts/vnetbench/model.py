"""The vocabulary of every layer: tests, hosts, platforms, figures, cells and the experiment.

It imports nothing of the project. Config parsing, hosts, the lab and the analysis all sit
above it and speak it.
"""

from dataclasses import dataclass, replace
from functools import cached_property

RR_TESTS = ("TCP_RR", "UDP_RR", "TCP_CRR")  # TCP_CRR: a connection per transaction
STREAM_TESTS = ("TCP_STREAM", "UDP_STREAM")
# A UDP_STREAM run of a number of bytes ends when they have all arrived: a datagram lost on the
# way leaves it waiting until it is killed. Its runs stay timed, also where others are sized.
ALWAYS_TIMED = ("UDP_STREAM",)
TESTS = RR_TESTS + STREAM_TESTS
# Latency under load (after Flent's RRUL): flows of TCP_STREAM up and TCP_MAERTS down with a
# TCP_RR and a UDP_RR probe beside them, and the same probes on the idle path first.
LOAD_TESTS = ("RRUL",)
_PROBES_IN_TURN = "probes_in_turn"  # a mark in a RRUL cell's tracked form, not a setting
# Tests that may run as several concurrent flows in one cell ("TCP_STREAMx4").
PARALLEL_TESTS = ("TCP_RR", "TCP_STREAM")


def split_test(test: str) -> tuple[str, int]:
    """A cell's test as (netperf test, flows): "TCP_STREAMx4" is four concurrent TCP_STREAM
    flows, "RRULx4" four bulk flows each way; a plain name is one flow (RRUL: one each way).
    "TCP_STREAMx1" is one flow measured as the concurrent ones are (a scaling figure's first)."""
    base, sep, flows = test.rpartition("x")
    if sep and base in PARALLEL_TESTS + LOAD_TESTS and flows.isdigit() and int(flows) >= 1:
        return base, int(flows)
    return test, 1


def with_flows(test: str, flows: int, scaling: bool = False) -> str:
    """The inverse of split_test; `scaling`: a count of a scaling figure, always named."""
    return test if flows == 1 and not scaling else f"{test}x{flows}"


def is_rr(test: str) -> bool:
    """Whether the cell's test counts transactions (request/response, also in parallel)."""
    return split_test(test)[0] in RR_TESTS


def concurrent(test: str) -> bool:
    """Whether a cell of `test` runs several netperfs at once (vnetbench.load): always timed."""
    return test not in TESTS


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
    # Where netserver listens, if not at `address` (a server behind NAT, reached at a published
    # address), and the port of netperf's data connection, if it must be fixed (published).
    listen_address: str | None = None
    data_port: int | None = None
    data_ports: int = 1  # consecutive ports published from data_port: concurrent flows need one each
    netperf: str = "netperf"
    netserver: str = "netserver"
    netserver_port: int = 12865
    # A second netserver's port on a server, run at real-time priority for RRUL's probes
    # (Experiment.probe_priority); None: netserver_port + 1.
    probe_netserver_port: int | None = None
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

    @property
    def bind_address(self) -> str | None:
        return self.listen_address or self.address

    @property
    def probe_port(self) -> int:
        return self.probe_netserver_port or self.netserver_port + 1

    def probes_netserver(self) -> "Host":
        """This server as its probes' netserver sees it: the same host, the probes' port."""
        return replace(self, name=f"{self.name} (probes' netserver)", netserver_port=self.probe_port)


@dataclass(frozen=True)
class Platform:
    name: str
    label: str
    client: Host
    server: Host
    # Its hosts are QEMU guests of the embedded testbed, booted by the first cell that needs them.
    virtual_machine: bool = False
    # The embedded testbed's path it measures (lab.PATHS), else None.
    embedded: str | None = None
    # With a precision target: this platform's own cap on repetitions (None: the target's).
    max_repetitions: int | None = None
    # Global netperf options its cells add to the experiment's (a variant's setting).
    netperf_options: tuple[str, ...] = ()
    # A variant: the platform it is another setting of (same hosts, same blocks), else None.
    variant_of: str | None = None


# Metrics beyond the paper's that a figure may ask for (request/response tests only).
EXTRA_METRICS = ("latency", "cpu")


@dataclass(frozen=True)
class Figure:
    name: str
    test: str
    sizes: tuple[int, ...]
    metric: str
    title: str
    extra_metrics: tuple[str, ...] = ()  # of EXTRA_METRICS
    timed_runs: bool = False  # keep timed runs (duration) even where the experiment sizes runs
    # Sizes whose sized runs last longer than the experiment's run_length: (size, seconds).
    long_runs: tuple[tuple[int, float], ...] = ()
    # The figure whose flow counts this one is part of (config `flows: [1, 2, 4, 8]` makes one
    # figure per count, drawn together as a scaling figure), else None.
    scaling: str | None = None
    # With a precision target, the figure's own cap on repetitions (else the experiment's).
    max_repetitions: int | None = None


@dataclass(frozen=True)
class Cell:
    """One measurement (a netperf run, or a load cell's concurrent netperfs): the unit of work,
    of caching and of rerun."""

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

    @classmethod
    def from_path(cls, path: str) -> "Cell":
        """The cell whose record is at `path` (.../PLATFORM/TEST/SIZE/REP.json)."""
        platform, test, size, rep = path.removesuffix(".json").split("/")[-4:]
        return cls(platform, test, int(size), int(rep))


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
    latency: bool = False  # netperf's latency histogram: P50, P90, P99 ... of every transaction
    cpu: bool = False  # netperf's CPU measurement (-c -C): utilisation and service demand
    # Runs of a fixed number of transactions (bytes, for bulk tests) sized to last about this
    # many seconds, from the configuration's calibration (calibration_path); None: timed runs.
    run_length: float | None = None
    runs: int = 1  # netperf runs back to back in the cell; its value is their mean
    data_port: int | None = None  # the server's data port, where it is fixed (published by NAT)
    # RRUL only: the SCHED_FIFO priority of its probes at both ends, and the port of the server's
    # netserver that runs at it (Host.probe_port); None: probes scheduled as any process.
    probe_priority: int | None = None
    probe_netserver_port: int | None = None
    # RRUL only: the CPUs of the TCP probe's netperf and netserver (netperf -T; the UDP probe's
    # the other way round); None: unbound.
    probe_cpus: tuple[int, int] | None = None

    def as_params(self) -> dict:
        """The tracked form. Its repr is what Snakemake compares between runs: keep the keys
        and their order, or every cell measured so far would run again. The extra metrics
        appear only when asked for, so a config without them tracks what it always did."""
        params = {
            "test": self.test,
            "size_bytes": self.size_bytes,
            "duration": self.duration,
            "netperf_options": list(self.netperf_options),
            "client": self.client,
            "netperf": self.netperf,
            "server_address": self.server_address,
            "netserver_port": self.netserver_port,
        }
        params.update({name: True for name in EXTRA_METRICS if getattr(self, name)})
        if self.run_length is not None:
            params["run_length"] = self.run_length
        if self.runs != 1:
            params["runs"] = self.runs
        if self.data_port is not None:
            params["data_port"] = self.data_port
        if self.probe_priority is not None:
            params["probe_priority"] = self.probe_priority
            params["probe_netserver_port"] = self.probe_netserver_port
        if self.probe_cpus is not None:
            params["probe_cpus"] = list(self.probe_cpus)
        if split_test(self.test)[0] in LOAD_TESTS:
            # RRUL's probes take turns (load.jobs): cells measured with them side by side, which
            # lack this mark, are measured again.
            params[_PROBES_IN_TURN] = True
        return params

    @classmethod
    def from_params(cls, params: dict) -> "Measurement":
        params = {key: value for key, value in params.items() if key != _PROBES_IN_TURN}
        cpus = params.get("probe_cpus")
        return cls(**{**params, "netperf_options": tuple(params["netperf_options"]),
                      **({"probe_cpus": tuple(cpus)} if cpus is not None else {})})  # fmt: skip


# The schema's default of precision.give_up_beyond (workflow/schemas/config.schema.yaml).
GIVE_UP_BEYOND = 1.2


@dataclass(frozen=True)
class Precision:
    """Repetitions until precise: the 95% interval of every ratio to the baseline within
    +-`target` of the estimate, and of every configuration's mean within +-`value_target`,
    with at least `min_repetitions` and at most `max_repetitions` per configuration."""

    target: float
    value_target: float
    min_repetitions: int
    max_repetitions: int
    give_up_beyond: float | None = GIVE_UP_BEYOND  # see vnetbench.precision.hopeless; None: never
    budget_minutes: float | None = None  # of cells, for every round (vnetbench.precision.within_budget)


@dataclass(frozen=True)
class RunSettings:
    """How a cell runs, not what it measures: changing these never reruns a cell."""

    timeout_margin: float = 15.0  # seconds a run may exceed its duration before it is killed
    retries: int = 2  # times a cell restarts a missing netserver and runs again


@dataclass(frozen=True)
class RunOrder:
    """In what order cells run; never what they measure, so changing it reruns nothing."""

    shuffled: bool = True  # blocks of a repetition, and platforms within a block, in random order
    seed: int = 1
    # A block's platforms measured in one job with their runs interleaved (ABC CBA ...); off,
    # every cell is a job of its own.
    interleave: bool = True
    warmup: bool = False  # one unrecorded run per platform before the first cell


@dataclass(frozen=True)
class GuestSettings:
    """The QEMU guests of the embedded testbed's vm platform."""

    accel: str = "auto"  # auto: KVM if the probe boot works, else TCG
    memory_mb: int = 256
    boot_timeout: float = 60.0
    kvm_probe_timeout: float = 10.0
    # Where the probe's outcome is kept until the host reboots (a test keeps its own).
    kvm_probe_cache: str = "/run/vnetbench-kvm-probe.json"


@dataclass(frozen=True)
class Experiment:
    # The embedded testbed (the lab's own type, vnetbench.testbed.Testbed), or None for external
    # hosts: this module names nothing of the lab.
    testbed: object | None
    repetitions: int  # every configuration's, or with a precision target its first round's
    duration: int
    netperf_options: tuple[str, ...]
    platforms: dict[str, Platform]
    figures: dict[str, Figure]
    run: RunSettings = RunSettings()
    guest: GuestSettings = GuestSettings()
    precision: Precision | None = None  # None: a fixed number of repetitions, as in the paper
    baseline: str = "native"
    run_length: float | None = None  # seconds a sized run should last; None: timed runs (duration)
    runs_per_cell: int = 1  # sized runs only: netperf runs per cell, its value their mean
    keep_cpus_awake: bool = True  # while measuring on this machine (vnetbench.machine)
    order: RunOrder = RunOrder()
    # SCHED_FIFO priority of RRUL's probes (client netperf and server netserver); None: normal.
    probe_priority: int | None = None
    probe_cpus: tuple[int, int] | None = None  # RRUL's TCP probe's CPUs (client, server); None: unbound

    @property
    def realtime_probes(self) -> bool:
        """Whether a figure's probes run at real-time priority (a second netserver per server)."""
        return self.probe_priority is not None and any(
            split_test(f.test)[0] in LOAD_TESTS for f in self.figures.values()
        )

    def in_blocks(self, platform: str) -> bool:
        """Whether `platform` is measured in blocks (one job per block, runs interleaved with the
        block's other platforms): with interleaving on, every platform but a virtual machine (its
        guests boot inside its own job) and one with a repetition cap of its own (a block's
        platforms share its repetitions)."""
        spec = self.platforms[platform]
        return self.order.interleave and not spec.virtual_machine and spec.max_repetitions is None

    @property
    def block_members(self) -> list[str]:
        """The platforms measured in blocks, in config order (see in_blocks)."""
        return [name for name in self.platforms if self.in_blocks(name)]

    def cells(self, figure: str | None = None, added: tuple[dict, ...] | list[dict] = ()) -> list[Cell]:
        """Every cell of one figure, or of all figures (each cell once): the first round's
        repetitions, then the blocks that precision rounds `added` ({test, size_bytes, rep,
        platforms}, as vnetbench.precision plans them)."""
        figures = [self.figures[figure]] if figure else self.figures.values()
        wanted = list(dict.fromkeys((fig.test, size) for fig in figures for size in fig.sizes))
        cells = [
            Cell(platform, test, size, rep)
            for test, size in wanted
            for platform in self.platforms
            for rep in range(1, min(self.repetitions, self.max_repetitions(platform)) + 1)
        ]
        cells += [
            Cell(platform, block["test"], block["size_bytes"], block["rep"])
            for block in added
            if (block["test"], block["size_bytes"]) in wanted
            for platform in self.whole_block(block["platforms"])
        ]
        return list(dict.fromkeys(cells))

    def whole_block(self, platforms: list[str]) -> list[str]:
        """`platforms` with, if any of them is measured in blocks, every platform that is: a
        block is one job, so a precision round adds it whole (a plan of an earlier version may
        name part of one)."""
        if any(self.in_blocks(name) for name in platforms):
            platforms = [*platforms, *self.block_members]
        return list(dict.fromkeys(name for name in platforms if name in self.platforms))

    def protocol(self) -> str:
        """How often each configuration is measured, in words."""
        runs = f"{self.duration:g} s"
        if self.run_length is not None:
            each = f"the mean of {self.runs_per_cell} runs of" if self.runs_per_cell > 1 else "runs of"
            longer = sorted({length for f in self.figures.values() for _, length in f.long_runs})
            at = "".join(f" or {length:g} s" for length in longer) + (
                " where figures say (long_runs)" if longer else ""
            )
            runs = (
                f"{each} about {self.run_length:g} s{at} (a fixed number of transactions per configuration, "
                "calibrated by two sized runs of it; "
                f"timed runs of {self.duration:g} s where figures keep them)"
            )
        if self.precision is None:
            return f"{self.repetitions} repetitions of {runs}"
        p = self.precision
        caps = {f.scaling or f.name: f.max_repetitions for f in self.figures.values() if f.max_repetitions}
        own = f" (at most {', '.join(f'{cap} for {name}' for name, cap in caps.items())})" if caps else ""
        return (
            f"{p.min_repetitions} to {p.max_repetitions} repetitions{own} of {runs} (more where "
            f"needed, until the 95% interval of each ratio to {self.baseline} is within +-{p.target:.0%} "
            f"and of each mean within +-{p.value_target:.0%}; {self.baseline} also runs in every block "
            "added for another platform)"
        )

    @cached_property
    def _showing(self) -> dict[tuple[str, int], list[Figure]]:
        """The figures that show each (test, size): asked for every job of a parse."""
        showing = {}
        for figure in self.figures.values():
            for size_bytes in figure.sizes:
                showing.setdefault((figure.test, size_bytes), []).append(figure)
        return showing

    def max_repetitions(self, platform: str, test: str | None = None, size_bytes: int | None = None) -> int:
        """The most repetitions of a configuration: the platform's own cap, else the experiment's;
        a figure's own cap (the largest of the figures showing the test and size) replaces the
        experiment's, and holds beside the platform's where lower."""
        if self.precision is None:
            return self.repetitions
        own = self.platforms[platform].max_repetitions
        figures = [f.max_repetitions for f in self._showing.get((test, size_bytes), []) if f.max_repetitions]
        if not figures:
            return own or self.precision.max_repetitions
        return min(own, max(figures)) if own else max(figures)

    def measurement(self, platform: str, test: str, size_bytes: int) -> Measurement:
        """What the cells of one configuration measure: with the extra metrics that any figure
        showing this test and size asks for (cells are shared between figures)."""
        showing = self._showing.get((test, size_bytes), [])
        extra = {name for figure in showing for name in figure.extra_metrics}
        basic = measurement_for(
            self.platforms[platform], test, size_bytes, self.duration, self.netperf_options
        )
        run_length = self.run_length_of(test, size_bytes)
        runs = self.runs_per_cell if run_length is not None else 1
        probes = {}
        if split_test(test)[0] in LOAD_TESTS:
            probes = {"probe_cpus": self.probe_cpus}
            if self.probe_priority is not None:
                probe_port = self.platforms[platform].server.probe_port
                probes |= {"probe_priority": self.probe_priority, "probe_netserver_port": probe_port}
        return replace(
            basic, latency="latency" in extra, cpu="cpu" in extra, run_length=run_length, runs=runs,
            **probes,
        )  # fmt: skip

    def run_length_of(self, test: str, size_bytes: int) -> float | None:
        """How long a sized run of this test and size should last, or None for timed runs."""
        showing = self._showing.get((test, size_bytes), [])
        if (
            self.run_length is None
            or test in ALWAYS_TIMED
            or concurrent(test)
            or any(f.timed_runs for f in showing)
        ):
            return None
        longer = [length for f in showing for size, length in f.long_runs if size == size_bytes]
        return max([self.run_length, *longer])


def calibration_path(platform: str, test: str, size_bytes: int) -> str:
    """The calibration of a configuration's sized runs (vnetbench.sizing)."""
    return f"results/calibration/{platform}/{test}/{size_bytes}.json"


def measurement_for(
    platform: Platform, test: str, size_bytes: int, duration: int, netperf_options: tuple[str, ...] = ()
) -> Measurement:
    """What a cell of `platform` measures at this test, size and duration."""
    return Measurement(
        test=test,
        size_bytes=size_bytes,
        duration=duration,
        netperf_options=(*netperf_options, *platform.netperf_options),
        client=platform.client.measured_as,
        netperf=platform.client.netperf,
        server_address=platform.server.address,
        netserver_port=platform.server.netserver_port,
        data_port=platform.server.data_port,
    )
