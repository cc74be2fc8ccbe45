"""Node-code types (:mod:`fluxnex.n8n.code_auth.nodes.services_a_d`) through ``CredentialManager.session()``
against a local HTTP server, no node needed: what arrives is what the n8n node sends (the differential test
``tests/n8n_engine/test_node_auth_differential.py`` checks that against n8n itself), relative paths resolve
against the node's API root, and Bitwarden's access token is fetched once and reused."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle import builtin
from fluxnex.lifecycle.code_tokens import CodeTokenCache
from fluxnex.n8n.code_auth import CodeAuthError, nodes
from http_recorder import *  # noqa: F403 - the server fixture
from http_recorder import RecordingServer

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000d1")


def _sent(recorder: RecordingServer) -> list[tuple[str, str, dict[str, str], bytes]]:
    """``(method, path with query, headers, body)`` of each request the server saw."""
    return [(s["method"], s["path"], s["headers"], s["body"]) for s in recorder.seen]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_agile_crm_basic_auth_is_utf8_and_the_callers_request_is_kept(manager: CredentialManager,
                                                                      server: RecordingServer) -> None:
    manager.create_connection(TENANT, "agileCrmApi", "agile", {"email": "zoë@example.com", "apiKey": "kéy",
                                                               "subdomain": "acme"})
    with manager.session(TENANT, "agile") as http:
        http.post(f"{server.url}/dev/api/contacts?x=1", json={"a": "b"}, headers={"X-Trace": "t"}).raise_for_status()
    method, path, headers, body = _sent(server)[-1]
    # n8n's HTTP client encodes basic auth as UTF-8 (requests alone would send Latin-1)
    assert headers["Authorization"] == _basic("zoë@example.com", "kéy")
    assert (method, path, headers["X-Trace"], json.loads(body)) == ("POST", "/dev/api/contacts?x=1", "t", {"a": "b"})
    assert nodes.base_url("agileCrmApi", {"subdomain": "acme"}) == "https://acme.agilecrm.com/dev/"


def test_cockpit_token_joins_the_query_of_a_relative_path(manager: CredentialManager, server: RecordingServer) -> None:
    data = {"url": server.url, "accessToken": "t0k"}
    manager.create_connection(TENANT, "cockpitApi", "cockpit", data)
    assert nodes.base_url("cockpitApi", data) == f"{server.url}/api"
    with manager.session(TENANT, "cockpit") as http:  # relative paths resolve against the node's API root
        http.get("/collections/get/posts", params={"limit": "2"}).raise_for_status()
    _, path, headers, _ = _sent(server)[-1]
    assert urlsplit(path).path == "/api/collections/get/posts"
    assert parse_qs(urlsplit(path).query) == {"limit": ["2"], "token": ["t0k"]}
    assert "t0k" not in json.dumps(headers)


def test_bitwarden_fetches_its_token_once_and_sends_it_as_bearer(manager: CredentialManager, server: RecordingServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cache = CodeTokenCache(requests.Session)
    monkeypatch.setattr(builtin, "_tokens", cache)
    server.answers["/identity/connect/token"] = (200, {"access_token": "bw-1", "expires_in": 3600,
                                                       "token_type": "Bearer"})
    manager.create_connection(TENANT, "bitwardenApi", "bw", {"clientId": "organization.1", "clientSecret": "s3c",
                                                             "environment": "selfHosted", "domain": server.url})
    with manager.session(TENANT, "bw") as http:  # self-hosted: <domain>/api
        for _ in range(3):
            http.get("/public/collections").raise_for_status()
    tokens = [r for r in _sent(server) if r[1] == "/identity/connect/token"]
    calls = [r for r in _sent(server) if r[1] == "/api/public/collections"]
    assert len(tokens) == 1 and cache.fetches == 1 and len(calls) == 3
    assert tokens[0][0] == "POST" and dict(parse_qsl(tokens[0][3].decode())) == {
        "client_id": "organization.1", "client_secret": "s3c", "grant_type": "client_credentials",
        "scope": "api.organization", "deviceName": "n8n", "deviceType": "2", "deviceIdentifier": "n8n"}
    assert all(r[2]["Authorization"] == "Bearer bw-1" for r in calls)


def test_discord_webhook_requests_go_to_the_webhook_uri(manager: CredentialManager, server: RecordingServer) -> None:
    hook = f"{server.url}/api/webhooks/1/abc?thread_id=9"
    manager.create_connection(TENANT, "discordWebhookApi", "hook", {"webhookUri": hook})
    assert nodes.base_url("discordWebhookApi", {"webhookUri": hook}) == f"{server.url}/api/webhooks/1/abc"
    with manager.session(TENANT, "hook") as http:
        http.post("", json={"content": "hi"}, params={"wait": "true"}).raise_for_status()  # the node's request
        http.post(hook, json={"content": "again"}).raise_for_status()  # addressed to the webhook itself
        http.post(f"{server.url}/api/v10/channels/1/messages", json={"content": "x"}).raise_for_status()
    assert [r[1] for r in _sent(server)] == ["/api/webhooks/1/abc?thread_id=9&wait=true",
                                             "/api/webhooks/1/abc?thread_id=9", "/api/webhooks/1/abc?thread_id=9"]
    assert json.loads(_sent(server)[0][3]) == {"content": "hi"}


def test_discord_webhook_without_an_absolute_uri_is_refused_before_sending(manager: CredentialManager,
                                                                          server: RecordingServer) -> None:
    manager.create_connection(TENANT, "discordWebhookApi", "bad", {"webhookUri": "discord.com/api/webhooks/1/abc"})
    with manager.session(TENANT, "bad") as http, pytest.raises(CodeAuthError, match="not an absolute http"):
        http.post(f"{server.url}/x", json={})
    assert _sent(server) == []
