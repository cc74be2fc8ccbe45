"""Any standard OAuth2/OIDC provider without a plugin: public PKCE clients, discovery, RFC 7009, RFC 9207."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from flow_support import browser
from fluxnex import ConfigurationError, CredentialManager, ValidationError
from fluxnex.api.connect import ConnectError, connect_oauth2
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import SandboxProvider

TENANT = uuid.UUID("11111111-2222-3333-4444-555555555555")


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'db.sqlite'}", generate_key_line("k1")


@pytest.fixture
def manager(db: tuple[str, str]) -> Iterator[CredentialManager]:
    mgr = CredentialManager(*db)
    yield mgr
    mgr.close()


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider(expires_in=3600) as provider:
        yield provider


def tampered(**changes: str | None) -> object:
    """A browser that changes (None: drops) parameters of the provider's redirect before delivering it."""

    def deliver(url: str) -> None:
        location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
        parts = urlsplit(location)
        query = dict(parse_qsl(parts.query))
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = value
        requests.get(urlunsplit(parts._replace(query=urlencode(query))), timeout=10)

    return deliver


def test_a_public_pkce_client_connects_and_refreshes_without_a_secret(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    sandbox.register_client("native-app", None)
    data = {k: v for k, v in sandbox.oauth2_data(grantType="pkce", clientId="native-app").items()
            if k != "clientSecret"}
    info = connect_oauth2(manager, TENANT, "oAuth2Api", "public", data, open_url=browser, timeout=10)
    assert info.status.value == "ACTIVE"
    first = manager.get_connection(TENANT, "public")["oauthTokenData"]
    manager.refresh_connection(TENANT, "public")
    second = manager.get_connection(TENANT, "public")["oauthTokenData"]
    assert second["access_token"] != first["access_token"] and sandbox.is_active(second["access_token"])
    token_requests = [r for r in sandbox.requests if r.path == "/token"]
    assert [r.client_auth for r in token_requests] == ["none", "none"]  # client authentication "none"
    assert all("client_id" in r.form_keys and "client_secret" not in r.form_keys for r in token_requests)
    # the secret is still required for the other grant types, as in n8n
    with pytest.raises(ValidationError, match="clientSecret: is required"):
        manager.create_connection(TENANT, "oAuth2Api", "x", {**data, "grantType": "authorizationCode"})


@pytest.mark.parametrize("openid", [True, False], ids=["openid-discovery", "rfc8414-only"])
def test_discovery_fills_the_endpoints_and_revocation_uses_rfc_7009(
    manager: CredentialManager, sandbox: SandboxProvider, openid: bool
) -> None:
    sandbox.configure(openid_configuration=openid)
    client = {"clientId": "sandbox-client", "clientSecret": "sandbox-secret"}
    info = connect_oauth2(manager, TENANT, None, "oidc", client, issuer=sandbox.url, open_url=browser, timeout=10)
    assert info.type == "oAuth2Api"
    data = manager.get_connection(TENANT, "oidc")
    assert (data["authUrl"], data["accessTokenUrl"]) == (sandbox.authorize_url, sandbox.token_url)
    assert data["oauthServer"] == {"issuer": sandbox.url, "revocation_endpoint": sandbox.revoke_url,
                                   "authorization_response_iss_parameter_supported": True}
    token = data["oauthTokenData"]
    assert manager.revoke_connection(TENANT, "oidc") is True
    assert not sandbox.is_active(token["refresh_token"]) and not sandbox.is_active(token["access_token"])
    assert [r.form_keys for r in sandbox.requests if r.path == "/revoke"] == [("token", "token_type_hint")]
    asked = [r.path for r in sandbox.requests if r.path.startswith("/.well-known/")]
    assert asked == (["/.well-known/openid-configuration"] if openid else
                     ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])


def test_revocation_without_discovery_uses_the_endpoint_the_server_publishes(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    connect_oauth2(manager, TENANT, "oAuth2Api", "plain", sandbox.oauth2_data(), open_url=browser, timeout=10)
    token = manager.get_connection(TENANT, "plain")["oauthTokenData"]
    assert manager.revoke_connection(TENANT, "plain") is True
    assert not sandbox.is_active(token["refresh_token"])
    manager.create_connection(TENANT, "httpHeaderAuth", "static", {"name": "X-Key", "value": "v"})
    assert manager.revoke_connection(TENANT, "static") is False  # nothing to revoke for a static credential


def test_discovery_refuses_metadata_of_another_issuer(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    other = sandbox.url.replace("127.0.0.1", "localhost")
    with pytest.raises(ConfigurationError, match="names another issuer"):
        connect_oauth2(manager, TENANT, None, "x", {"clientId": "c"}, issuer=other, open_url=browser, timeout=5)
    with pytest.raises(ConfigurationError, match=r"no OAuth2/OpenID metadata for issuer .*HTTP 404"):
        connect_oauth2(manager, TENANT, None, "x", {"clientId": "c"}, issuer=sandbox.url + "/nope",
                       open_url=browser, timeout=5)
    assert manager.list_connections(TENANT) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"iss": "https://evil.example"}, "iss names another issuer"),
    ({"iss": None}, "promised an iss parameter"),
])
def test_the_iss_callback_parameter_is_checked(
    manager: CredentialManager, sandbox: SandboxProvider, change: dict[str, str | None], message: str
) -> None:
    client = {"clientId": "sandbox-client", "clientSecret": "sandbox-secret"}
    with pytest.raises(ConnectError, match=message):
        connect_oauth2(manager, TENANT, None, "x", client, issuer=sandbox.url, open_url=tampered(**change),
                       timeout=10)
    assert manager.list_connections(TENANT) == []


def test_without_discovery_an_iss_from_another_origin_is_refused(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    sandbox.configure(callback_iss="https://mix-up.example")
    with pytest.raises(ConnectError, match="not the authorization server's origin"):
        connect_oauth2(manager, TENANT, "oAuth2Api", "x", sandbox.oauth2_data(), open_url=browser, timeout=10)
    sandbox.configure(callback_iss=None)
    info = connect_oauth2(manager, TENANT, "oAuth2Api", "x", sandbox.oauth2_data(), open_url=browser, timeout=10)
    assert "iss" not in manager.get_connection(TENANT, "x")["oauthTokenData"].get("callbackQueryString", {})
    assert info.status.value == "ACTIVE"


def test_cli_connect_with_issuer_and_delete_with_revoke(db: tuple[str, str], sandbox: SandboxProvider,
                                                         tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")},
           "FLUXNEX_DATABASE_URL": db[0], "FLUXNEX_ENCRYPTION_KEYS": db[1]}
    (tmp_path / "client.json").write_text('{"clientId": "sandbox-client", "clientSecret": "sandbox-secret"}')
    proc = subprocess.Popen(
        ["fluxnex", "connect", "--tenant", str(TENANT), "--name", "oidc", "--issuer", sandbox.url, "--data",
         str(tmp_path / "client.json"), "--no-browser", "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.strip().startswith("http://"):
            threading.Thread(target=browser, args=(line.strip(),), daemon=True).start()
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith("Connected 'oidc' (oAuth2Api): status ACTIVE")
    mgr = CredentialManager(*db)
    token = mgr.get_connection(TENANT, "oidc")["oauthTokenData"]
    mgr.close()
    deleted = subprocess.run(["fluxnex", "connections", "delete", "--tenant", str(TENANT), "oidc", "--revoke",
                              "--yes"], capture_output=True, text=True, env=env, timeout=60)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.splitlines() == ["Revoked at the provider.", "Deleted connection 'oidc'."]
    assert not sandbox.is_active(token["refresh_token"])
