"""OAuth1 end to end against a local provider built on oauthlib's server side: the three-legged flow of
``fluxnex connect`` (API and CLI), and every signature method over GET with a query, a form POST and a JSON POST."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fluxnex import CredentialManager, FluxnexError, hookimpl
from fluxnex.api.connect_oauth1 import connect_oauth1
from fluxnex.cli import cli
from fluxnex.contract.plugins import reset_registry
from fluxnex.lifecycle import oauth1
from fluxnex.lifecycle.oauth1 import OAuth1FlowError
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.n8n_catalog import catalog_path
from fluxnex.testing.pytest_plugin import browser_approve
from oauth1_provider import OAuth1Provider
from preauth_support import route_to

TENANT = uuid.UUID("22222222-3333-4444-5555-666666666666")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class _SignedApi:
    """A plugin type extending oAuth1Api that may also choose RSA-SHA1 or PLAINTEXT (n8n's offers HMAC only)."""

    @hookimpl
    def register_credential_types(self, register: Any) -> None:
        register({"name": "signedOAuth1Api", "displayName": "Signed OAuth1", "extends": ["oAuth1Api"],
                  "properties": [
                      {"displayName": "Signature Method", "name": "signatureMethod", "type": "options",
                       "default": "RSA-SHA1", "options": [{"name": m, "value": m} for m in oauth1.SIGNATURE_METHODS]},
                      {"displayName": "Private Key", "name": "privateKey", "type": "string", "default": "",
                       "typeOptions": {"password": True}}]})


@pytest.fixture
def provider() -> Iterator[OAuth1Provider]:
    with OAuth1Provider(rsa_public_pem=PUBLIC_PEM) as p:
        yield p


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[CredentialManager]:
    mgr = CredentialManager(f"sqlite:///{tmp_path}/o1.db", generate_key_line("k1"))
    yield mgr
    mgr.close()


def test_three_legged_flow_stores_the_access_token_and_signs_requests(provider: OAuth1Provider,
                                                                      manager: CredentialManager) -> None:
    info = connect_oauth1(manager, TENANT, "oAuth1Api", "x", provider.settings(), open_url=browser_approve,
                          timeout=10)
    assert info.status.value == "ACTIVE"
    token = manager.get_connection(TENANT, "x")["oauthTokenData"]
    assert token["oauth_token"] in provider.validator.access_tokens
    assert provider.calls == {"/request_token": 1, "/authorize": 1, "/access_token": 1}
    assert not provider.validator.request_tokens  # the request token was spent
    session = manager.session(TENANT, "x")
    assert session.get(f"{provider.url}/resource", params={"q": "a b", "n": "1"}).status_code == 200
    assert session.post(f"{provider.url}/resource", data={"note": "café & co"}).status_code == 200
    assert session.post(f"{provider.url}/resource", json={"a": 1}).status_code == 200
    assert provider.last_resource_body == '{"a": 1}'
    forged = requests.get(f"{provider.url}/resource", headers={"Authorization": "OAuth oauth_token=x"}, timeout=5)
    assert forged.status_code == 401  # the provider checks what it is sent


@pytest.mark.parametrize("method", oauth1.SIGNATURE_METHODS)
def test_every_signature_method_is_accepted_and_a_wrong_secret_is_not(
    method: str, provider: OAuth1Provider, manager: CredentialManager, register_plugin: Any
) -> None:
    register_plugin(_SignedApi(), name="signed-oauth1")
    settings = {**provider.settings(method), "privateKey": PRIVATE_PEM if method == "RSA-SHA1" else ""}
    connect_oauth1(manager, TENANT, "signedOAuth1Api", "s", settings, open_url=browser_approve, timeout=10)
    session = manager.session(TENANT, "s")
    assert session.get(f"{provider.url}/resource", params={"q": "1"}).status_code == 200
    assert session.post(f"{provider.url}/resource", data={"f": "v"}).status_code == 200
    header = session.get(f"{provider.url}/resource").request.headers["Authorization"]
    assert f'oauth_signature_method="{method}"' in header
    if method != "RSA-SHA1":  # RSA signs with the key, not the secrets
        manager.update_connection(TENANT, "s", data={**settings, "consumerSecret": "wrong",
                                                     "oauthTokenData": manager.get_connection(TENANT, "s")[
                                                         "oauthTokenData"]})
        assert manager.session(TENANT, "s").get(f"{provider.url}/resource").status_code == 401


def test_denied_or_unanswered_flows_store_nothing(provider: OAuth1Provider, manager: CredentialManager) -> None:
    bad = {**provider.settings(), "consumerSecret": "not-it"}
    with pytest.raises(OAuth1FlowError, match=r"request token request .* answered HTTP 401"):
        connect_oauth1(manager, TENANT, "oAuth1Api", "bad", bad, open_url=browser_approve, timeout=5)
    with pytest.raises(OAuth1FlowError, match=r"no authorization arrived within 0\.5 s"):
        connect_oauth1(manager, TENANT, "oAuth1Api", "slow", provider.settings(), open_url=None, timeout=0.5)

    def deny(url: str) -> None:
        token = dict(p.split("=") for p in urlsplit(url).query.split("&"))["oauth_token"]
        callback = provider.validator.request_tokens[token]["callback"]
        requests.get(f"{callback}?denied={token}", timeout=5)

    with pytest.raises(OAuth1FlowError, match="did not grant access"):
        connect_oauth1(manager, TENANT, "oAuth1Api", "denied", provider.settings(), open_url=deny, timeout=5)
    assert manager.list_connections(TENANT) == []
    with pytest.raises(FluxnexError, match="not OAuth1"):
        connect_oauth1(manager, TENANT, "httpHeaderAuth", "h", {"name": "a", "value": "b"})


@pytest.mark.parametrize("type_name", ["twitterOAuth1Api", "trelloOAuth1Api"])
def test_catalog_children_use_their_providers_endpoints(type_name: str, provider: OAuth1Provider, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    reset_registry()
    manager = CredentialManager(f"sqlite:///{tmp_path}/cat.db", generate_key_line("k1"))
    try:
        route_to(manager.http, int(provider.url.rsplit(":", 1)[1]))
        seen: list[str] = []

        def approve_locally(url: str) -> None:  # the provider's host is this machine's provider here
            seen.append(url)
            parts = urlsplit(url)
            browser_approve(urlunsplit(parts._replace(scheme="http", netloc=provider.url.removeprefix("http://"))))

        data = {"consumerKey": provider.consumer_key, "consumerSecret": provider.consumer_secret}
        connect_oauth1(manager, TENANT, type_name, "c", data, open_url=approve_locally, timeout=10)
        host = {"twitterOAuth1Api": "api.twitter.com", "trelloOAuth1Api": "trello.com"}[type_name]
        assert urlsplit(seen[0]).netloc == host and "oauth_token=" in seen[0]
        if type_name == "trelloOAuth1Api":  # its authUrl's own query is kept
            assert "expiration=never" in seen[0] and seen[0].count("?") == 1
        assert {type_name, "oAuth1Api"} <= oauth1.implemented()
        session = manager.session(TENANT, "c")
        route_to(session, int(provider.url.rsplit(":", 1)[1]))  # signed for https://host, checked as such
        assert session.get(f"https://{host}/1/members/me", params={"fields": "id"}).status_code == 200
    finally:
        manager.close()
        reset_registry()


def test_cli_connect_runs_the_oauth1_flow(provider: OAuth1Provider, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", generate_key_line("k1"))
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(provider.settings()))
    runner = CliRunner()
    approvals: list[threading.Thread] = []
    monkeypatch.setattr("webbrowser.open", lambda url: approvals.append(
        threading.Thread(target=browser_approve, args=(url,))) or approvals[-1].start())
    result = runner.invoke(cli, ["connect", "--tenant", str(TENANT), "--type", "oAuth1Api", "--name", "cli-x",
                                 "--data", str(settings), "--timeout", "10"])
    assert result.exit_code == 0, result.output
    assert "Connected 'cli-x' (oAuth1Api): status ACTIVE" in result.output
    shown = runner.invoke(cli, ["connections", "show", "--tenant", str(TENANT), "--name", "cli-x", "--json"])
    assert provider.consumer_secret not in shown.output  # masked without --reveal
    secret = CredentialManager(os.environ["FLUXNEX_DATABASE_URL"], os.environ["FLUXNEX_ENCRYPTION_KEYS"])
    try:
        assert secret.get_connection(TENANT, "cli-x")["oauthTokenData"]["oauth_token_secret"] not in shown.output
    finally:
        secret.close()


def test_an_oauth1_connection_stored_without_a_token_says_how_to_connect_it(
    provider: OAuth1Provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    from fluxnex.contract.errors import NotConnected

    url, keys = f"sqlite:///{tmp_path}/nc.db", generate_key_line("k1")
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", url)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", keys)
    mgr = CredentialManager(url, keys)
    try:
        mgr.create_connection(TENANT, "oAuth1Api", "later x", provider.settings())
        with pytest.raises(NotConnected) as caught:
            mgr.get_connection(TENANT, "later x")
        command = str(caught.value).split("`")[1]
        monkeypatch.setattr("webbrowser.open", lambda url: threading.Thread(target=browser_approve,
                                                                            args=(url,)).start())
        result = CliRunner().invoke(cli, [*shlex.split(command)[1:], "--timeout", "10"])
        assert result.exit_code == 0, result.output
        assert "Reconnected 'later x' (oAuth1Api): status ACTIVE" in result.output
        assert mgr.get_connection(TENANT, "later x")["oauthTokenData"]["oauth_token"]
    finally:
        mgr.close()
