"""The config, checked and turned into an Experiment: platforms, figures and the cell grid.

`load_experiment` validates the config against the JSON schema (filling in its
defaults), then checks what a schema cannot say (sizes, UDP limits, netperf options,
files), and raises ConfigError with one message naming the key and what it allows.
"""

import os
from dataclasses import replace
from pathlib import Path

import yaml

from . import load
from .errors import VnetbenchError
from .lab import OPTIONAL
from .message_sizes import UDP_MAX_PAYLOAD, parse_size
from .model import (
    LOAD_TESTS,
    LOCAL,
    PARALLEL_TESTS,
    RR_TESTS,
    STREAM_TESTS,
    Experiment,
    Figure,
    GuestSettings,
    Host,
    Platform,
    Precision,
    RunOrder,
    RunSettings,
    concurrent,
    with_flows,
)
from .netperf import allowed_options_text, option_problem
from .testbed import PLATFORM_NODES, Testbed, for_workdir

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(VnetbenchError):
    """A config value that cannot be used; names the key and the allowed values."""

    def __init__(self, key: str, problem: str, allowed: str = ""):
        message = f"{key}: {problem}" if key else problem
        if allowed:
            message += f" (allowed: {allowed})"
        super().__init__(message)
        self.key = key


def load_experiment(config: dict, config_files: list[str] = (), workdir: str = ".") -> Experiment:
    """Validate `config` in place (defaults filled in) and build the Experiment."""
    for path in config_files:
        check_yaml_file(path)
    if config.get("precision") is not None and "repetitions" in config:
        raise ConfigError(
            "repetitions",
            "a fixed number of repetitions and a precision target exclude each other",
            "with precision, precision.min_repetitions and max_repetitions; without, repetitions",
        )
    _validate_schema(config)
    problem = option_problem(config["netperf_options"])
    if problem:
        index, text = problem
        raise ConfigError(f"netperf_options[{index}]", text, allowed_options_text())
    if config["runs_per_cell"] != 1 and config["run_length"] is None:
        raise ConfigError("runs_per_cell", "only with sized runs", "run_length set, or runs_per_cell: 1")
    precision = config["precision"]
    if precision and precision["min_repetitions"] > precision["max_repetitions"]:
        raise ConfigError(
            "precision.min_repetitions",
            f"{precision['min_repetitions']} is above max_repetitions ({precision['max_repetitions']})",
            "at most precision.max_repetitions",
        )
    _check_variants(config)
    experiment = experiment_from_validated(config, workdir)
    for name, spec in config["platforms"].items():
        if "max_repetitions" in spec and not precision:
            raise ConfigError(
                f"platforms.{name}.max_repetitions", "only with a precision target", "precision"
            )
    for name, spec in config["figures"].items():
        cap = spec.get("max_repetitions")
        if cap is not None and not precision:
            raise ConfigError(f"figures.{name}.max_repetitions", "only with a precision target", "precision")
        if cap is not None and cap < precision["min_repetitions"]:
            raise ConfigError(
                f"figures.{name}.max_repetitions",
                f"{cap} is below precision.min_repetitions ({precision['min_repetitions']})",
                f"at least {precision['min_repetitions']}",
            )
    _check_flows(experiment, config)
    if config["baseline"] not in experiment.platforms:
        raise ConfigError(
            "baseline", f"{config['baseline']!r} is not a platform", ", ".join(experiment.platforms)
        )
    return experiment


# libyaml's parser where PyYAML has it: ten times faster, and every parse of the workflow reads
# the config and the schema.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """A YAML loader that refuses duplicate keys, which PyYAML would silently merge."""


def _no_duplicates(loader, node, deep=False):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise ConfigError(
                f"line {key_node.start_mark.line + 1}",
                f"duplicate key {key!r}",
                "each name once per map",
            )
        keys.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def check_yaml_file(path: str) -> dict:
    """Parse a config file strictly; ConfigError for syntax errors and duplicate keys."""
    try:
        with open(path) as stream:
            data = yaml.load(stream, Loader=_StrictLoader)
    except OSError as error:
        raise ConfigError(path, f"cannot read config file: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(path, f"YAML syntax error: {error}".replace("\n", " ")) from None
    except ConfigError as error:
        raise ConfigError(path, str(error)) from None
    if not isinstance(data, dict):
        raise ConfigError(path, "the config must be a YAML map of keys to values")
    return data


def _validate_schema(config: dict) -> None:
    import jsonschema  # imported here: cell jobs never validate

    with open(SCHEMA) as stream:
        schema = yaml.load(stream, Loader=_SafeLoader)
    validator_class = _with_defaults(jsonschema.Draft7Validator)
    errors = list(validator_class(schema).iter_errors(config))
    if errors:
        raise _config_error(jsonschema.exceptions.best_match(errors))


def _with_defaults(validator_class):
    """A validator that fills in each property's default before checking it."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    import jsonschema

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def _config_error(error) -> ConfigError:
    key = ".".join(str(part) for part in error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(schema.get("properties", {})))
        where = f"{key}." if key else ""
        return ConfigError(
            f"{where}{unknown[0]}", "unknown key", ", ".join(schema.get("properties", {})) or "none"
        )
    if error.validator == "required":
        missing = error.message.split("'")[1]
        wanted = _allowed(schema.get("properties", {}).get(missing, {})) or "see config/README.md"
        return ConfigError(f"{key}.{missing}" if key else missing, "missing", wanted)
    if error.validator == "propertyNames" or (error.validator == "pattern" and not key):
        return ConfigError(key, f"bad name {error.instance!r}", schema.get("x-allowed", ""))
    if error.validator in ("minItems", "maxItems") and error.validator_value != 1 and error.instance:
        return ConfigError(key, f"{error.instance!r} is not allowed", _allowed(schema) or error.message)
    if error.validator in ("minLength", "minProperties", "minItems"):
        return ConfigError(key, "must not be empty", _allowed(schema) or "at least one entry")
    return ConfigError(key, f"{error.instance!r} is not allowed", _allowed(schema))


_TYPES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
          "array": "a list", "object": "a map", "null": "null"}  # fmt: skip


def _allowed(schema: dict) -> str:
    """The allowed values of a schema node, in words."""
    if "x-allowed" in schema:
        return schema["x-allowed"]
    if "enum" in schema:
        return ", ".join(map(str, schema["enum"]))
    types = schema.get("type", [])
    words = " or ".join(_TYPES.get(t, t) for t in ([types] if isinstance(types, str) else types))
    bounds = [
        f"{symbol} {schema[bound]}"
        for bound, symbol in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="))
        if bound in schema
    ]
    return " ".join([words, " and ".join(bounds)]).strip()


def _check_flows(experiment: Experiment, config: dict) -> None:
    """A figure's flow counts make names of their own, and every platform's server can take
    that many data connections at once (a server behind NAT publishes a fixed number of ports)."""
    for name, spec in config["figures"].items():
        for count in spec.get("flows") if isinstance(spec.get("flows"), list) else []:
            if f"{name}_x{count}" in config["figures"]:
                raise ConfigError(
                    f"figures.{name}.flows", f"makes figure {name}_x{count}, which the config names too",
                    "another figure name",
                )  # fmt: skip
    for figure in experiment.figures.values():
        if not concurrent(figure.test):
            continue
        needed = load.concurrent_netperfs(figure.test)
        for platform in experiment.platforms.values():
            server = platform.server
            if server.data_port is not None and needed > server.data_ports:
                key = figure.scaling or figure.name
                raise ConfigError(
                    f"figures.{key}.flows",
                    f"{figure.test} runs {needed} netperfs at once, each with its own data port, but"
                    f" platform {platform.name}'s server publishes {server.data_ports}"
                    f" (from port {server.data_port})",
                    f"at most {server.data_ports} concurrent netperfs on {platform.name}",
                )


def _figures(name: str, spec: dict) -> list[Figure]:
    """A figure of the config: one, or with a list of flow counts one per count (NAME_xN),
    drawn together as NAME's scaling figure."""
    figure = _figure(name, spec)
    counts = spec.get("flows", 4 if spec["test"] in LOAD_TESTS else 1)
    if not isinstance(counts, list):
        return [replace(figure, test=with_flows(spec["test"], counts))]
    return [
        replace(figure, name=f"{name}_x{count}", test=with_flows(spec["test"], count, True), scaling=name,
                title=f"{figure.title} ({count} {'flow' if count == 1 else 'flows'})")
        for count in counts
    ]  # fmt: skip


def _figure(name: str, spec: dict) -> Figure:
    key = f"figures.{name}"
    test = spec["test"]
    if "flows" in spec and test not in PARALLEL_TESTS + LOAD_TESTS:
        raise ConfigError(
            f"{key}.flows",
            f"{test} runs one flow per cell",
            f"flows with {', '.join(PARALLEL_TESTS + LOAD_TESTS)}",
        )
    if test in LOAD_TESTS and spec["extra_metrics"]:
        raise ConfigError(
            f"{key}.extra_metrics",
            f"{test} always times its probes' transactions, and its CPU would be the flows'",
            "no extra metrics for RRUL",
        )
    if spec["metric"] == "latency_inflation" and test not in LOAD_TESTS:
        raise ConfigError(
            f"{key}.metric", f"{test} has no probe under load", "latency_inflation only with RRUL"
        )
    if spec["metric"] == "transactions_per_s" and test in LOAD_TESTS:
        raise ConfigError(
            f"{key}.metric",
            f"{test}'s transactions are its probe's",
            "latency_inflation or throughput_mbit_s",
        )
    sizes = []
    for index, value in enumerate(spec["sizes"]):
        try:
            size = parse_size(value)
        except ValueError as error:
            raise ConfigError(
                f"{key}.sizes[{index}]", str(error), "positive sizes such as 512, '8K', '50M'"
            ) from None
        if spec["test"].startswith("UDP") and size > UDP_MAX_PAYLOAD:
            raise ConfigError(
                f"{key}.sizes[{index}]",
                f"{value!r} is {size} bytes, more than UDP can carry",
                f"at most {UDP_MAX_PAYLOAD} bytes for {spec['test']}",
            )
        if size in sizes:
            raise ConfigError(f"{key}.sizes[{index}]", f"{value!r} repeats an earlier size", "each size once")
        sizes.append(size)
    if "latency" in spec["extra_metrics"] and spec["test"] in STREAM_TESTS:
        raise ConfigError(
            f"{key}.extra_metrics",
            f"{spec['test']} has no transactions to time",
            f"latency only with {', '.join(RR_TESTS)}; cpu (CPU per Gbit) with any test",
        )
    if spec["metric"] == "transactions_per_s" and spec["test"] in STREAM_TESTS:
        raise ConfigError(
            f"{key}.metric",
            f"{spec['test']} has no transactions",
            f"transactions_per_s only with {', '.join(RR_TESTS)}",
        )
    long_runs = []
    for value, length in spec.get("long_runs", {}).items():
        try:  # YAML reads 512 as a number and 512K as text
            size = parse_size(int(value) if str(value).isdigit() else value)
        except ValueError as error:
            raise ConfigError(
                f"{key}.long_runs.{value}", str(error), "a size such as 512, '8K', '50M'"
            ) from None
        if size not in sizes:
            raise ConfigError(
                f"{key}.long_runs.{value}", "is not one of the figure's sizes", f"one of {spec['sizes']}"
            )
        long_runs.append((size, float(length)))
    return Figure(
        name, spec["test"], tuple(sorted(sizes)), spec["metric"], spec["title"], tuple(spec["extra_metrics"]),
        spec["timed_runs"], tuple(sorted(long_runs)), max_repetitions=spec.get("max_repetitions"),
    )  # fmt: skip


def _check_variants(config: dict) -> None:
    """Each platform's own netperf options are ones a cell can take; a variant names another
    platform that is no variant itself, on the same hosts, measured in the same blocks."""
    platforms = config["platforms"]
    for name, spec in platforms.items():
        key = f"platforms.{name}"
        problem = option_problem(spec.get("netperf_options", []))
        if problem:
            index, text = problem
            raise ConfigError(f"{key}.netperf_options[{index}]", text, allowed_options_text())
        parent = spec.get("variant_of")
        if parent is None:
            continue
        if parent not in platforms or parent == name:
            raise ConfigError(
                f"{key}.variant_of", f"{parent!r} is no other platform", f"one of {sorted(platforms)}"
            )
        if platforms[parent].get("variant_of"):
            raise ConfigError(
                f"{key}.variant_of", f"{parent!r} is a variant itself", "a platform that is no variant"
            )
        where = ("embedded",) if "embedded" in spec else ("client", "server")
        if any(spec.get(field) != platforms[parent].get(field) for field in where):
            raise ConfigError(
                f"{key}.variant_of", f"its {' and '.join(where)} differ from {parent}'s",
                f"the same {' and '.join(where)} as {parent}: a variant is another setting of the same path",
            )  # fmt: skip
        if spec.get("embedded") == "vm" or spec.get("max_repetitions") != platforms[parent].get(
            "max_repetitions"
        ):
            raise ConfigError(
                f"{key}.variant_of", "a variant is measured in its platform's blocks",
                "a platform measured in blocks (not vm) and the same max_repetitions as it",
            )  # fmt: skip


def _platform(name: str, spec: dict, testbed: Testbed | None) -> Platform:
    key = f"platforms.{name}"
    if testbed is not None:
        if "embedded" not in spec:
            raise ConfigError(
                f"{key}.embedded", "missing", f"with testbed: embedded, one of {', '.join(PLATFORM_NODES)}"
            )
        for role in ("client", "server"):
            if role in spec:
                raise ConfigError(
                    f"{key}.{role}", "the embedded testbed provides the hosts", "no client or server"
                )
        client, server = PLATFORM_NODES[spec["embedded"]]
        return Platform(
            name,
            spec["label"],
            testbed.host(client, "client", name),
            testbed.host(server, "server", name),
            virtual_machine=spec["embedded"] == "vm",
            embedded=spec["embedded"],
            max_repetitions=spec.get("max_repetitions"),
            netperf_options=tuple(spec.get("netperf_options", ())),
            variant_of=spec.get("variant_of"),
        )
    if "embedded" in spec:
        raise ConfigError(f"{key}.embedded", "only with testbed: embedded", "client and server hosts")
    for role in ("client", "server"):
        if role not in spec:
            raise ConfigError(f"{key}.{role}", "missing", "a host (see config/README.md)")
    client = _host(f"platforms.{name}.client", f"{name} client", spec["client"])
    server = _host(f"platforms.{name}.server", f"{name} server", spec["server"])
    if server.address is None:
        raise ConfigError(
            f"platforms.{name}.server.address", "missing", "the address netperf targets on the server"
        )
    return Platform(
        name, spec["label"], client, server, max_repetitions=spec.get("max_repetitions"),
        netperf_options=tuple(spec.get("netperf_options", ())), variant_of=spec.get("variant_of"),
    )  # fmt: skip


def _host(key: str, name: str, spec: dict) -> Host:
    paths = {}
    if spec["host"] != LOCAL:
        for field in ("key", "known_hosts"):
            if field not in spec:
                raise ConfigError(
                    f"{key}.{field}", "missing", "required for SSH hosts (host other than 'local')"
                )
            path = os.path.expanduser(spec[field])
            if not os.path.isfile(path):
                raise ConfigError(f"{key}.{field}", f"no such file: {spec[field]}", "an existing file")
            paths[field] = path
    return Host(
        name=name,
        ssh_host=spec["host"],
        port=spec["port"],
        user=spec["user"],
        key=paths.get("key"),
        known_hosts=paths.get("known_hosts"),
        address=spec.get("address"),
        netperf=spec["netperf"],
        netserver=spec["netserver"],
        netserver_port=spec["netserver_port"],
        probe_netserver_port=_probe_port(key, spec),
        connect_timeout=spec["connect_timeout"],
    )


def _probe_port(key: str, spec: dict) -> int | None:
    port = spec.get("probe_netserver_port")
    if port is not None and port == spec["netserver_port"]:
        raise ConfigError(
            f"{key}.probe_netserver_port",
            f"{port} is netserver_port too",
            "a port of its own for the probes' netserver (default netserver_port + 1)",
        )
    return port


def _testbed(config: dict, workdir: str) -> Testbed | None:
    if config["testbed"] != "embedded":
        if config["link_rate"] is not None:
            raise ConfigError(
                "link_rate", "only the embedded testbed has a wire to limit", "null with testbed: hosts"
            )
        return None
    kinds = {spec.get("embedded") for spec in config["platforms"].values()}
    return for_workdir(workdir, config["link_rate"], tuple(kind for kind in OPTIONAL if kind in kinds))


def guest_settings(config: dict) -> GuestSettings:
    guest = config["guest"]
    return GuestSettings(
        guest["accel"], guest["memory_mb"], guest["boot_timeout"], guest["kvm_probe_timeout"],
        guest["kvm_probe_cache"],
    )  # fmt: skip


def experiment_from_validated(config: dict, workdir: str = ".") -> Experiment:
    """The Experiment of a config that load_experiment already validated (no schema pass)."""
    testbed = _testbed(config, workdir)
    precision = config["precision"]
    return Experiment(
        testbed=testbed,
        repetitions=precision["min_repetitions"] if precision else config["repetitions"],
        duration=config["duration"],
        netperf_options=tuple(config["netperf_options"]),
        platforms={name: _platform(name, spec, testbed) for name, spec in config["platforms"].items()},
        figures={
            figure.name: figure for name, spec in config["figures"].items() for figure in _figures(name, spec)
        },
        run=RunSettings(config["timeout_margin"], config["retries"]),
        guest=guest_settings(config),
        precision=Precision(**precision) if precision else None,
        baseline=config["baseline"],
        keep_cpus_awake=config["keep_cpus_awake"],
        probe_priority=config["probe_priority"],
        probe_cpus=tuple(config["probe_cpus"]) if config["probe_cpus"] is not None else None,
        run_length=config["run_length"],
        runs_per_cell=config["runs_per_cell"],
        order=RunOrder(
            shuffled=config["run_order"] == "shuffled",
            seed=config["run_order_seed"],
            interleave=config["interleave_runs"],
            warmup=config["warmup"],
        ),
    )
