"""The connect flow end to end against the sandbox provider: the test plays the browser and follows the redirect."""

from __future__ import annotations

import base64
import os
import threading
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from flow_support import browser
from fluxnex import ConnectionExists, ConnectionExpired, CredentialManager, FluxnexError, ValidationError
from fluxnex.api.connect import ConnectError, connect_oauth2
from fluxnex.testing.sandbox import SandboxProvider

TENANT = uuid.UUID("11111111-2222-3333-4444-555555555555")


@pytest.fixture
def manager(tmp_path: Path) -> CredentialManager:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return CredentialManager(f"sqlite:///{tmp_path / 'db.sqlite'}", f"k1:{key}")


@pytest.fixture
def sandbox() -> SandboxProvider:
    with SandboxProvider(expires_in=3600, extra_callback_params={"realmId": "9130"}) as provider:
        yield provider


def test_authorization_code_with_pkce_stores_an_active_connection(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    seen: list[str] = []

    def open_url(url: str) -> None:
        seen.append(url)
        browser(url)

    info = connect_oauth2(manager, TENANT, "oAuth2Api", "sb", sandbox.oauth2_data(), open_url=open_url, timeout=10)
    assert info.status.value == "ACTIVE"
    query = dict(parse_qsl(urlsplit(seen[0]).query))
    assert query["code_challenge_method"] == "S256" and query["state"] and query["code_challenge"]
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    data = manager.get_connection(TENANT, "sb")
    token = data["oauthTokenData"]
    assert sandbox.is_active(token["access_token"])
    assert token["callbackQueryString"] == {"realmId": "9130"}  # extra callback params kept where n8n keeps them
    assert info.expires_at is not None and abs(info.expires_at.timestamp() - token["expires_at"]) < 1
    assert sandbox.token_requests.get("authorization_code") == 1


def test_denied_consent_stores_nothing(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    sandbox.configure(deny=True)
    with pytest.raises(ConnectError, match="did not grant access"):
        connect_oauth2(manager, TENANT, "oAuth2Api", "sb", sandbox.oauth2_data(), open_url=browser, timeout=10)
    assert manager.list_connections(TENANT) == []


def test_timeout_stores_nothing(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    with pytest.raises(ConnectError, match=r"no authorization arrived within 0\.5 s"):
        connect_oauth2(manager, TENANT, "oAuth2Api", "sb", sandbox.oauth2_data(), open_url=lambda url: None,
                       timeout=0.5)
    assert manager.list_connections(TENANT) == []


def test_a_forged_state_is_rejected(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    def forger(url: str) -> None:
        location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
        parts = urlsplit(location)
        query = dict(parse_qsl(parts.query))
        query["state"] = "forged"
        requests.get(urlunsplit(parts._replace(query=urlencode(query))), timeout=10)

    with pytest.raises(ConnectError, match="state does not match"):
        connect_oauth2(manager, TENANT, "oAuth2Api", "sb", sandbox.oauth2_data(), open_url=forger, timeout=10)
    assert manager.list_connections(TENANT) == []
    assert sandbox.token_requests.get("authorization_code", 0) == 0


def test_client_credentials_connect_without_a_browser(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    opened: list[str] = []
    data = sandbox.oauth2_data(grantType="clientCredentials")
    info = connect_oauth2(manager, TENANT, "oAuth2Api", "cc", data, open_url=opened.append, timeout=10)
    assert opened == []
    assert info.status.value == "ACTIVE"
    assert sandbox.is_active(manager.get_connection(TENANT, "cc")["oauthTokenData"]["access_token"])


def test_bad_settings_and_taken_names_fail_before_the_browser(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    opened: list[str] = []
    with pytest.raises(ValidationError, match="clientId"):
        connect_oauth2(manager, TENANT, "oAuth2Api", "x", {**sandbox.oauth2_data(), "clientId": ""},
                       open_url=opened.append)
    connect_oauth2(manager, TENANT, "oAuth2Api", "taken", sandbox.oauth2_data(), open_url=browser, timeout=10)
    with pytest.raises(ConnectionExists):
        connect_oauth2(manager, TENANT, "oAuth2Api", "taken", sandbox.oauth2_data(), open_url=opened.append)
    with pytest.raises(FluxnexError, match="not OAuth2"):
        connect_oauth2(manager, TENANT, "httpHeaderAuth", "h", {"name": "X", "value": "y"}, open_url=opened.append)
    assert opened == []


def test_cli_connect_prints_the_url_and_stores_the_connection(tmp_path: Path, sandbox: SandboxProvider) -> None:
    """The installed `fluxnex connect` command, driven like a person with --no-browser."""
    import json
    import subprocess
    import sys

    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = {**os.environ, "FLUXNEX_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
           "FLUXNEX_ENCRYPTION_KEYS": f"k1:{key}"}
    (tmp_path / "client.json").write_text(json.dumps(sandbox.oauth2_data()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluxnex", "connect", "--tenant", str(TENANT), "--type", "oAuth2Api", "--name", "cli",
         "--data", str(tmp_path / "client.json"), "--no-browser", "--timeout", "30", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
    )
    assert proc.stderr is not None
    url = ""
    for line in proc.stderr:
        if line.strip().startswith("http://"):
            url = line.strip()
            break
    threading.Thread(target=browser, args=(url,), daemon=True).start()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    info = json.loads(out)
    assert info["name"] == "cli" and info["status"] == "ACTIVE"
    assert "sandbox-secret" not in out + err


def test_reconnect_in_place_through_the_api(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    first = connect_oauth2(manager, TENANT, "oAuth2Api", "sb", sandbox.oauth2_data(scope="read"), open_url=browser,
                           timeout=10)
    sandbox.fail_next("invalid_grant")
    with pytest.raises(ConnectionExpired):
        manager.refresh_connection(TENANT, "sb")
    failed = manager.get_connection_info(TENANT, "sb")
    assert failed.status.value == "EXPIRED" and failed.refresh_failures == 1 and failed.last_error
    with pytest.raises(FluxnexError, match="is of type 'oAuth2Api', not 'httpHeaderAuth'"):
        connect_oauth2(manager, TENANT, "httpHeaderAuth", "sb", {}, reconnect=True, open_url=browser, timeout=10)
    again = connect_oauth2(manager, TENANT, None, "sb", {}, reconnect=True, open_url=browser, timeout=10)
    assert (again.id, again.created_at) == (first.id, first.created_at)
    assert (again.status.value, again.refresh_failures, again.last_error) == ("ACTIVE", 0, None)
    data = manager.get_connection(TENANT, "sb")
    assert data["scope"] == "read" and sandbox.is_active(data["oauthTokenData"]["access_token"])  # settings kept


def test_a_static_credential_with_a_past_expiry_is_handed_over_untouched(manager: CredentialManager) -> None:
    """Honest refresh through the API: no plugin refreshes httpHeaderAuth, so nothing is marked EXPIRED."""
    from fluxnex import NotRefreshable

    manager.create_connection(TENANT, "httpHeaderAuth", "h", {"name": "X-Key", "value": "v-123456",
                                                              "oauthTokenData": {"expires_at": 1.0}})
    before = manager.store.get(TENANT, "h")
    assert before is not None and before.expires_at is not None
    assert manager.get_connection(TENANT, "h")["value"] == "v-123456"
    with pytest.raises(NotRefreshable, match="nothing to refresh"):
        manager.refresh_connection(TENANT, "h")
    after = manager.store.get(TENANT, "h")
    assert after is not None
    assert (after.version, after.status.value, after.refresh_failures, after.last_error, after.lease_owner) == (
        before.version, "ACTIVE", 0, None, None)
