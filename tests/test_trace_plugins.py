"""``FLUXNEX_TRACE_PLUGINS``: hook name, plugins, duration and outcome per call, and never a secret."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.plugins import reset_registry
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.api_server import ApiServer
from fluxnex.testing.sandbox import SandboxProvider

TENANT = uuid.uuid4()


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CredentialManager]:
    monkeypatch.setenv("FLUXNEX_TRACE_PLUGINS", "1")
    monkeypatch.setenv("FLUXNEX_LOAD_PLUGINS", "")
    reset_registry()
    (tmp_path / "db").mkdir()
    mgr = CredentialManager(f"sqlite:///{tmp_path}/db/fluxnex.db", generate_key_line("k1"))
    try:
        yield mgr
    finally:
        mgr.close()
        reset_registry()


def test_trace_lines_name_the_hook_and_mask_every_secret(
    traced: CredentialManager, capfd: pytest.CaptureFixture[str]
) -> None:
    with SandboxProvider() as sandbox, ApiServer(lambda r: (200, {}, {})) as api:
        tokens = sandbox.issue_tokens()
        traced.create_connection(TENANT, "oAuth2Api", "oauth", {**sandbox.oauth2_data(), "oauthTokenData": tokens})
        traced.create_connection(TENANT, "httpBasicAuth", "basic", {"user": "ada", "password": "pw-SECRET-123"})
        fresh = traced.refresh_connection(TENANT, "oauth")["oauthTokenData"]
        with traced.session(TENANT, "basic") as s:
            s.get(api.url + "/x?api_key=query-SECRET-456")
        client_secret = sandbox.oauth2_data()["clientSecret"]
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("fluxnex plugins: ")]
    refresh = next(line for line in lines if line.startswith("fluxnex plugins: refresh_token ["))
    assert "builtin" in refresh and " ms returned " in refresh and "credential_type=oAuth2Api" in refresh
    assert "'clientId': 'sandbox-client'" in refresh  # what is not secret stays readable
    authenticate = next(line for line in lines if line.startswith("fluxnex plugins: authenticate ["))
    assert "credential_type=httpBasicAuth" in authenticate and "'user': 'ada'" in authenticate
    secrets = [tokens["access_token"], tokens["refresh_token"], fresh["access_token"], fresh["refresh_token"],
               client_secret, "pw-SECRET-123", "query-SECRET-456"]
    for secret in secrets:
        assert secret not in err, f"a secret reached the trace: {secret[:6]}..."
    assert all(len(line) < 4000 for line in lines) and json.dumps(lines)
