"""A malformed config stops the real Snakemake before anything runs, with one message naming
the key and the allowed values, and leaves results/ untouched.

Every case of test_config's table goes through load_experiment, which is what the Snakefile
calls; here one case of each kind of check goes through Snakemake itself (a run costs ~2 s)."""

import copy

import pytest
import yaml

from .conftest import Workflow, tiny_config
from .test_config import BAD_CONFIGS

# Broken files, as a user would write them (the table in test_config builds dicts).
BAD_FILES = [
    ("yaml syntax error", "repetitions: [1,\nfigures: {}\n", "YAML syntax error"),
    ("yaml tab indentation", "platforms:\n\tnative: {}\n", "YAML syntax error"),
    ("duplicate platform name", None, "duplicate key 'native'"),
    ("not a map", "- just\n- a list\n", "must be a YAML map"),
]


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    workflow = Workflow(tmp_path_factory.mktemp("bad") / "flow")
    sentinel = workflow.directory / "results" / "raw" / "native" / "TCP_RR" / "1" / "1.json"
    sentinel.parent.mkdir(parents=True)
    sentinel.write_text('{"an": "earlier measurement"}\n')
    return workflow


def run_bad(flow, text: str):
    results = flow.directory / "results"
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    (flow.directory / "config" / "config.yaml").write_text(text)
    done = flow.run(check=False, timeout=60)
    after = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    assert done.returncode != 0
    assert after == before, "results/ changed"
    assert "rule cell:" not in done.stdout + done.stderr
    messages = [line for line in done.stderr.splitlines() if line.startswith("vnetbench: bad config: ")]
    assert len(messages) == 1, done.stderr
    return messages[0].removeprefix("vnetbench: bad config: ")


# One of each kind: schema type and range, unknown key, enum, size parsing, UDP limit, shell
# metacharacters, missing host key file, netperf option collision, whole seconds, guest
# settings, and the embedded testbed's own rules.
KINDS = {
    "repetitions text", "duration negative", "unknown top-level key", "unknown test", "size unparsable",
    "udp above 65507", "host with ;", "missing key file", "netperf option sets units",
    "duration fractional", "unknown accelerator", "vm without the embedded testbed", "bad platform name",
}  # fmt: skip
SNAKEMAKE_CASES = [case for case in BAD_CONFIGS if case[0] in KINDS]


@pytest.mark.parametrize("name, change, key", SNAKEMAKE_CASES, ids=[case[0] for case in SNAKEMAKE_CASES])
def test_bad_config_stops_snakemake(flow, name, change, key):
    message = run_bad(flow, yaml.safe_dump(change(copy.deepcopy(tiny_config()))))
    assert message.startswith(f"{key}:")
    assert "allowed:" in message or "missing" in message


@pytest.mark.parametrize("name, text, expected", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_config_file_stops_snakemake(flow, name, text, expected):
    if text is None:
        good = yaml.safe_dump(tiny_config(), sort_keys=False)
        native = good[good.index("  native:") : good.index("figures:")]
        text = good.replace("figures:", native + "figures:")
    message = run_bad(flow, text)
    assert message.startswith("config/config.yaml")
    assert expected in message


def test_the_table_is_large_enough():
    assert len(BAD_CONFIGS) + len(BAD_FILES) >= 25
    assert len(SNAKEMAKE_CASES) == len(KINDS)  # every kind named above is in the table
