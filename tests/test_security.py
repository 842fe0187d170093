"""Let no one in: strict host keys, key-only sshd, no shell injection, private keys kept private."""

import os
import socket
import stat
from pathlib import Path

import pandas as pd
import paramiko
import pytest

from .conftest import tiny_config
from .test_testbed import EMBEDDED

HOSTILE = "$(touch {s}) `touch {s}`; touch {s} && touch {s} | touch {s}\n'\"touch {s}"


@pytest.mark.parametrize("password", ["", "root", "vnetbench"])
def test_sshd_accepts_no_password(sshd, password):
    sock = socket.create_connection(("127.0.0.1", sshd.server.port), timeout=5)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=5)
        with pytest.raises((paramiko.BadAuthenticationType, paramiko.AuthenticationException)):
            transport.auth_password("root", password)
        assert not transport.is_authenticated()
        # The server offers public keys and nothing else.
        with pytest.raises(paramiko.BadAuthenticationType) as offered:
            transport.auth_none("root")
        assert offered.value.allowed_types == ["publickey"]
    finally:
        transport.close()


@pytest.mark.slow
def test_hostile_labels_and_titles_run_nothing(workflow, tmp_path):
    sentinel = tmp_path / "pwned"
    hostile = HOSTILE.format(s=sentinel).replace("\n", " ")
    config = tiny_config()
    config["platforms"]["native"]["label"] = hostile
    config["figures"]["tcp_small"]["title"] = hostile
    workflow.write_config(config)
    workflow.run()
    assert not sentinel.exists()
    table = pd.read_csv(workflow.directory / "results/figures/tcp_small.csv")
    assert set(table["label"]) == {hostile}


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="the embedded testbed needs root")
def test_generated_private_keys_stay_private(workflow):
    from vnetbench import testbed

    workflow.write_config(tiny_config(testbed="embedded", platforms=EMBEDDED, repetitions=1))
    bed = testbed.for_workdir(workflow.directory)
    try:
        workflow.run()  # the testbed is down afterwards; its generated keys stay for the next run
        keys = [bed.client_key, *sorted(bed.state_dir.rglob("ssh_host_ed25519_key"))]
        assert len(keys) == 7
        results = (workflow.directory / "results").resolve()
        secrets = []
        for key in keys:
            assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
            assert results not in key.resolve().parents
            body = key.read_text().splitlines()[1]  # a line of the private key itself
            secrets.append(body)
        for path in [*results.rglob("*"), *Path(workflow.directory, ".snakemake", "log").rglob("*")]:
            if path.is_file():
                text = path.read_text(errors="replace")
                assert "PRIVATE KEY" not in text, path
                assert not any(secret in text for secret in secrets), path
    finally:
        testbed.down(bed, log=lambda line: None)
