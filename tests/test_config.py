"""Config validation: good configs load, bad ones fail early naming the key."""

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from vnetbench.config import ConfigError, check_yaml_file, load_experiment
from vnetbench.model import GuestSettings
from vnetbench.precision import targets_of
from vnetbench.records import config_snapshot_path, write_config_snapshot

from .conftest import ROOT, tiny_config


def load(config: dict):
    return load_experiment(copy.deepcopy(config))


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    load_experiment(check_yaml_file(str(path)), [str(path)])


def test_defaults_are_filled_in():
    experiment = load(tiny_config())
    server = experiment.platforms["native"].server
    assert experiment.run.retries == 2 and experiment.run.timeout_margin == 15
    assert server.netperf == "netperf" and server.port == 22
    assert experiment.figures["tcp_small"].metric == "throughput_mbit_s"


def test_paper_grid():
    paper = load_experiment(check_yaml_file(str(ROOT / "config" / "paper.yaml")))
    sizes = sum(len(figure.sizes) for figure in paper.figures.values())
    assert sizes == 36
    assert paper.repetitions == 10 and paper.duration == 10
    assert paper.figures["fig5_tcp_large"].sizes[-1] == 50 * 1024 * 1024
    assert len(paper.cells()) == len(paper.platforms) * 36 * 10


def test_cells_are_shared_between_figures_and_counted_once():
    config = tiny_config()
    config["figures"]["again"] = {"test": "TCP_RR", "sizes": [64, 128], "title": "again"}
    experiment = load(config)
    assert len(experiment.cells()) == (2 + 1 + 1) * 2
    assert len(experiment.cells("again")) == 4


def mutate(path: str, value):
    """A copy of the tiny config with the value at dotted `path` set (or deleted)."""

    def apply(config):
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
        return config

    return apply


DELETE = object()
SERVER = "platforms.native.server"

BAD_CONFIGS = [
    ("repetitions zero", mutate("repetitions", 0), "repetitions"),
    ("repetitions text", mutate("repetitions", "ten"), "repetitions"),
    ("duration negative", mutate("duration", -1), "duration"),
    ("duration fractional", mutate("duration", 2.5), "duration"),
    ("duration below a second", mutate("duration", 0.5), "duration"),
    ("unknown top-level key", mutate("repetitons", 3), "repetitons"),
    ("unknown test", mutate("figures.tcp_small.test", "SCTP_RR"), "figures.tcp_small.test"),
    ("size zero", mutate("figures.tcp_small.sizes", [0]), "figures.tcp_small.sizes[0]"),
    ("size negative", mutate("figures.tcp_small.sizes", [-8]), "figures.tcp_small.sizes[0]"),
    ("size unparsable", mutate("figures.tcp_small.sizes", [1, "8KB"]), "figures.tcp_small.sizes[1]"),
    ("size repeated", mutate("figures.tcp_small.sizes", [8, "8"]), "figures.tcp_small.sizes[1]"),
    ("sizes empty", mutate("figures.tcp_small.sizes", []), "figures.tcp_small.sizes"),
    ("udp above 65507", mutate("figures.udp_small.sizes", ["64K"]), "figures.udp_small.sizes[0]"),
    (
        "stream metric",
        mutate(
            "figures.tcp_small",
            {"test": "TCP_STREAM", "sizes": [1], "metric": "transactions_per_s", "title": "t"},
        ),
        "figures.tcp_small.metric",
    ),  # noqa: E501
    ("unknown metric", mutate("figures.tcp_small.metric", "latency"), "figures.tcp_small.metric"),
    ("no server", mutate(SERVER, DELETE), "platforms.native.server"),
    ("no client", mutate("platforms.native.client", DELETE), "platforms.native.client"),
    ("no label", mutate("platforms.native.label", DELETE), "platforms.native.label"),
    ("server without address", mutate(f"{SERVER}.address", DELETE), f"{SERVER}.address"),
    ("no platforms", mutate("platforms", {}), "platforms"),
    ("bad platform name", mutate("platforms", {"Native X": {}}), "platforms"),
    ("empty figure name", mutate("figures", {"": {"test": "TCP_RR", "sizes": [1], "title": "t"}}), "figures"),
    ("host with ;", mutate(f"{SERVER}.host", "a;reboot"), f"{SERVER}.host"),
    ("host with space", mutate(f"{SERVER}.host", "a b"), f"{SERVER}.host"),
    ("user with $()", mutate(f"{SERVER}.user", "$(id)"), f"{SERVER}.user"),
    ("netperf path with backtick", mutate(f"{SERVER}.netserver", "/bin/`id`"), f"{SERVER}.netserver"),
    ("label with newline", mutate("platforms.native.label", "a\nb"), "platforms.native.label"),
    ("title empty", mutate("figures.tcp_small.title", ""), "figures.tcp_small.title"),
    (
        "ssh host without key",
        mutate("platforms.native.client", {"host": "198.18.0.1"}),
        "platforms.native.client.key",
    ),
    (
        "missing key file",
        mutate(
            "platforms.native.client",
            {"host": "198.18.0.1", "key": "/nonexistent/key", "known_hosts": "/etc/hostname"},
        ),
        "platforms.native.client.key",
    ),  # noqa: E501
    ("port out of range", mutate(f"{SERVER}.netserver_port", 70000), f"{SERVER}.netserver_port"),
    ("netperf option with ;", mutate("netperf_options", ["-4;id"]), "netperf_options.0"),
    ("netperf option sets units", mutate("netperf_options", ["-f", "g"]), "netperf_options[0]"),
    ("netperf option sets test", mutate("netperf_options", ["-4", "-t", "TCP_MAERTS"]), "netperf_options[1]"),
    ("netperf option sets length", mutate("netperf_options", ["-l5"]), "netperf_options[0]"),
    ("netperf test-specific options", mutate("netperf_options", ["--", "-r", "5"]), "netperf_options[0]"),
    ("netperf option unknown", mutate("netperf_options", ["-c"]), "netperf_options[0]"),
    ("netperf option without value", mutate("netperf_options", ["-T"]), "netperf_options[0]"),
    ("netperf option bad value", mutate("netperf_options", ["-T", "a,b"]), "netperf_options[1]"),
    ("netperf value without option", mutate("netperf_options", ["0,1"]), "netperf_options[0]"),
    (
        "long runs at a size not shown",
        mutate("figures.tcp_small.long_runs", {"8K": 0.2}),
        "figures.tcp_small.long_runs.8K",
    ),
    (
        "long runs at no size",
        mutate("figures.tcp_small.long_runs", {"big": 0.2}),
        "figures.tcp_small.long_runs.big",
    ),
    (
        "long runs of no time",
        mutate("figures.tcp_small.long_runs", {64: 0}),
        "figures.tcp_small.long_runs.64",
    ),
    ("unknown accelerator", mutate("guest", {"accel": "xen"}), "guest.accel"),
    (
        "kernel package with ;",
        mutate("guest", {"kernel_package": "linux-image-x;id"}),
        "guest.kernel_package",
    ),
    ("not a kernel package", mutate("guest", {"kernel_package": "busybox"}), "guest.kernel_package"),
    ("guest memory too small", mutate("guest", {"memory_mb": 16}), "guest.memory_mb"),
    ("unknown guest key", mutate("guest", {"cpus": 2}), "guest.cpus"),
    (
        "vm without the embedded testbed",
        mutate("platforms.native.embedded", "vm"),
        "platforms.native.embedded",
    ),
]


@pytest.mark.parametrize("name, change, key", BAD_CONFIGS, ids=[case[0] for case in BAD_CONFIGS])
def test_bad_config_names_the_key(name, change, key):
    with pytest.raises(ConfigError) as error:
        load(change(tiny_config()))
    message = str(error.value)
    assert message.startswith(f"{key}:"), message
    assert "\n" not in message
    assert len(message) < 400


def test_vm_platform_and_guest_defaults():
    config = tiny_config(
        testbed="embedded", platforms={"vm": {"label": "VM", "embedded": "vm"}}, baseline="vm"
    )
    experiment = load_experiment(config)
    platform = experiment.platforms["vm"]
    assert platform.virtual_machine and platform.client.port == platform.server.port == 2222
    assert platform.server.address == "198.18.0.22"
    assert experiment.guest == GuestSettings("auto", 256, 60, 10, "/run/vnetbench-kvm-probe.json")
    assert config["guest"]["kernel_package"] == "linux-image-cloud-amd64"


def test_precision_settings_and_their_conflicts():
    precise = tiny_config(precision={"min_repetitions": 3}, run_length=None)
    del precise["repetitions"]
    experiment = load(precise)
    assert experiment.repetitions == 3 and experiment.precision.max_repetitions == 12
    assert experiment.precision.target == 0.05 and experiment.max_repetitions("native") == 12
    assert "3 to 12 repetitions of 1 s" in experiment.protocol()
    assert experiment.precision.give_up_beyond == 1.2
    assert load({**precise, "precision": {"give_up_beyond": None}}).precision.give_up_beyond is None
    with pytest.raises(ConfigError, match=r"^precision.give_up_beyond: 0.5 is not allowed"):
        load({**precise, "precision": {"give_up_beyond": 0.5}})
    with pytest.raises(ConfigError, match="^repetitions: a fixed number of repetitions and a precision"):
        load(tiny_config(precision={}))  # tiny_config sets repetitions
    with pytest.raises(ConfigError, match="^precision.min_repetitions: 9 is above max_repetitions"):
        load({**precise, "precision": {"min_repetitions": 9, "max_repetitions": 4}})
    capped = copy.deepcopy(precise)
    capped["platforms"]["native"]["max_repetitions"] = 2
    # A cap below the first round's repetitions caps the first round too (a slow platform).
    assert {c.rep for c in load(capped).cells() if c.platform == "native"} == {1, 2}
    with pytest.raises(ConfigError, match="^platforms.native.max_repetitions: only with a precision target"):
        load(mutate("platforms.native.max_repetitions", 4)(tiny_config()))


def test_a_figures_own_cap_replaces_the_experiments_and_yields_to_a_lower_platform_cap():
    precise = tiny_config(precision={"min_repetitions": 3, "max_repetitions": 6}, run_length=None)
    del precise["repetitions"]
    precise["platforms"]["slow"] = copy.deepcopy(precise["platforms"]["native"]) | {"max_repetitions": 4}
    precise["figures"]["tcp_small"]["max_repetitions"] = 9
    experiment = load(precise)
    assert experiment.max_repetitions("native", "TCP_RR", 1) == 9  # the figure's
    assert experiment.max_repetitions("native", "UDP_RR", 16) == 6  # another figure: the experiment's
    assert experiment.max_repetitions("slow", "TCP_RR", 1) == 4  # the platform's, lower
    assert "3 to 6 repetitions (at most 9 for tcp_small) of 1 s" in experiment.protocol()
    targets = targets_of(experiment)
    assert targets.limit("native", "TCP_RR", 64) == 9 and targets.limit("native", "UDP_RR", 16) == 6
    assert targets.limit("slow", "TCP_RR", 1) == 4
    with pytest.raises(ConfigError, match=r"^figures.tcp_small.max_repetitions: 2 is below"):
        load(mutate("figures.tcp_small.max_repetitions", 2)(precise))
    with pytest.raises(ConfigError, match="^figures.tcp_small.max_repetitions: only with a precision target"):
        load(mutate("figures.tcp_small.max_repetitions", 4)(tiny_config()))


def test_extra_metrics_change_only_the_cells_that_measure_them():
    config = tiny_config()
    plain = load(config)
    before = plain.measurement("native", "TCP_RR", 1).as_params()
    assert "latency" not in before and "cpu" not in before  # what every earlier config tracked
    config["figures"]["tcp_small"]["extra_metrics"] = ["latency", "cpu"]
    extra = load(config)
    assert extra.measurement("native", "TCP_RR", 1).as_params() == {**before, "latency": True, "cpu": True}
    # Another figure's cells (UDP) measure what they did.
    assert extra.measurement("native", "UDP_RR", 16) == plain.measurement("native", "UDP_RR", 16)
    stream = tiny_config()
    stream["figures"]["tcp_small"] = {
        "test": "TCP_STREAM",
        "sizes": [64],
        "title": "t",
        "extra_metrics": ["latency"],
    }
    with pytest.raises(ConfigError, match="^figures.tcp_small.extra_metrics: TCP_STREAM has no transactions"):
        load(stream)
    # CPU per Gbit moved: for bulk tests too.
    stream["figures"]["tcp_small"]["extra_metrics"] = ["cpu"]
    assert load(stream).measurement("native", "TCP_STREAM", 64).cpu
    with pytest.raises(ConfigError, match="^figures.tcp_small.extra_metrics.0: 'jitter' is not allowed"):
        load(mutate("figures.tcp_small.extra_metrics", ["jitter"])(tiny_config()))


def test_long_runs_lengthen_only_their_sizes_and_cells_shared_take_the_longest(tmp_path):
    config = tiny_config(run_length=0.05)
    config["figures"]["tcp_small"]["long_runs"] = {64: 0.2}  # YAML reads 64 as a number
    config["figures"]["tcp_again"] = {"test": "TCP_RR", "sizes": [64], "title": "t", "long_runs": {"64": 0.5}}
    experiment = load(config)
    assert experiment.measurement("native", "TCP_RR", 64).run_length == 0.5
    assert experiment.measurement("native", "TCP_RR", 1).run_length == 0.05
    assert experiment.measurement("native", "UDP_RR", 16).run_length == 0.05
    # Keys read as numbers and as text side by side still make a config snapshot.
    config["figures"]["tcp_small"]["long_runs"] = {64: 0.2, "1": 0.3}
    path = config_snapshot_path(config, str(tmp_path))
    write_config_snapshot(config, path)
    snapshot = json.loads(Path(path).read_text())
    assert snapshot["figures"]["tcp_small"]["long_runs"] == {"64": 0.2, "1": 0.3}
    assert load_experiment(snapshot).measurement("native", "TCP_RR", 1).run_length == 0.3


def test_allowed_netperf_options_load():
    for options in (["-4"], ["-6"], ["-T", "0,1"], ["-T1,1"], ["-T", ",1"], ["-n", "2"], ["-4", "-T", "0"]):
        assert load(mutate("netperf_options", options)(tiny_config())).netperf_options == tuple(options)


def test_refused_netperf_options_say_what_sets_them():
    with pytest.raises(ConfigError) as error:
        load(mutate("netperf_options", ["-f", "g"])(tiny_config()))
    assert str(error.value) == (
        "netperf_options[0]: '-f' is set by the cell (the units (10^6 bits/s))"
        " (allowed: -4, -6, -T LCPU,RCPU, -n NUMCPU)"
    )
    with pytest.raises(ConfigError, match=r"^duration: 2.5 is not allowed \(allowed: whole seconds"):
        load(mutate("duration", 2.5)(tiny_config()))


def test_a_whole_duration_written_as_a_float_keeps_its_value_in_what_cells_measure():
    # 2.0 is 2 s, and the tracked measurement keeps the config's own value: no rerun.
    experiment = load(mutate("duration", 2.0)(tiny_config()))
    assert experiment.measurement("native", "TCP_RR", 1).as_params()["duration"] == 2.0


def test_unknown_key_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"allowed: testbed, link_rate, repetitions, precision, duration"):
        load(mutate("repetitons", 3)(tiny_config()))


def test_enum_error_lists_allowed_values():
    with pytest.raises(ConfigError, match="allowed: TCP_RR, UDP_RR, TCP_CRR, TCP_STREAM, UDP_STREAM"):
        load(mutate("figures.tcp_small.test", "SCTP_RR")(tiny_config()))


def test_yaml_duplicate_keys_and_syntax_errors(tmp_path):
    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text("platforms:\n  a: {}\n  a: {}\nfigures: {}\n")
    with pytest.raises(ConfigError, match="line 3: duplicate key 'a'"):
        check_yaml_file(str(duplicate))
    broken = tmp_path / "broken.yaml"
    broken.write_text("repetitions: [1,\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        check_yaml_file(str(broken))


def test_every_schema_key_is_documented():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    readme = (ROOT / "config" / "README.md").read_text()
    keys = set(schema["properties"]) | set(schema["definitions"]["host"]["properties"])
    keys |= set(schema["properties"]["guest"]["properties"])
    keys |= set(schema["properties"]["precision"]["properties"])
    keys |= set(schema["properties"]["platforms"]["additionalProperties"]["properties"])
    keys |= set(schema["properties"]["figures"]["additionalProperties"]["properties"])
    undocumented = [key for key in sorted(keys) if not re.search(rf"`{key}`", readme)]
    assert not undocumented


def test_every_schema_property_has_a_description():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{where}.{name}")
                walk(sub, f"{where}.{name}")
            for key in ("additionalProperties", "items"):
                walk(node.get(key), where)
            for name, sub in node.get("definitions", {}).items():
                walk(sub, name)

    walk(schema, "")
    assert not missing


def test_a_variant_is_another_setting_of_a_platform_on_its_hosts():
    experiment = load_experiment(check_yaml_file(str(ROOT / "config" / "variants.yaml")))
    one_cpu = experiment.platforms["native_one_cpu"]
    assert one_cpu.variant_of == "native" and one_cpu.netperf_options == ("-T", "1,1")
    assert experiment.measurement("native_one_cpu", "TCP_RR", 1).netperf_options == ("-T", "1,1")
    assert experiment.measurement("native_again", "TCP_RR", 1) == experiment.measurement(
        "native", "TCP_RR", 1
    )
    assert {"native", "native_again", "native_one_cpu"} <= set(experiment.block_members)

    def variant(**spec):
        config = tiny_config()
        config["platforms"]["b"] = {"label": "B", **copy.deepcopy(config["platforms"]["native"]), **spec}
        return config

    cases = [
        (variant(variant_of="nope"), "platforms.b.variant_of: 'nope' is no other platform"),
        (variant(variant_of="b"), "platforms.b.variant_of: 'b' is no other platform"),
        (variant(variant_of="native", server={"host": "local", "address": "127.0.0.2"}),
         "platforms.b.variant_of: its client and server differ from native's"),
        (variant(variant_of="native", netperf_options=["-l", "3"]),
         "platforms.b.netperf_options[0]: '-l' is set by the cell"),
    ]  # fmt: skip
    for config, message in cases:
        with pytest.raises(ConfigError, match="^" + re.escape(message)):
            load(config)
