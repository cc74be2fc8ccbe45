"""Node-code types of :mod:`fluxnex.n8n.code_auth.nodes.services_d_m` through ``CredentialManager.session()`` against
a local HTTP server (no node needed; the differential test compares the same functions with n8n's nodes): what
reaches the server, the caller's query and body kept, the logins sent once and their sessions reused."""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle import builtin
from fluxnex.lifecycle.code_tokens import CodeTokenCache
from fluxnex.n8n.code_auth import Context, TokenRequest, nodes
from fluxnex.n8n.code_auth._js import CodeAuthError
from fluxnex.n8n.code_auth.nodes.services_d_m_login import FILEMAKER_SESSION_SECONDS
from http_recorder import *  # noqa: F403 - the server fixture
from http_recorder import RecordingServer, ToLocal

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000d6")


def _cache(monkeypatch: pytest.MonkeyPatch, target: str | None = None, clock: list[float] | None = None
           ) -> CodeTokenCache:
    http = requests.Session()
    if target is not None:
        http.mount("https://", ToLocal(target))
    cache = CodeTokenCache(lambda: http, clock=(lambda: clock[0]) if clock else time.time)
    monkeypatch.setattr(builtin, "_tokens", cache)
    return cache


def test_halo_psa_fetches_its_client_credentials_token_once(manager: CredentialManager, server: RecordingServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _cache(monkeypatch)
    server.answers["/auth/token"] = (200, {"access_token": "halo-tok", "expires_in": 3600})
    manager.create_connection(TENANT, "haloPSAApi", "halo", {
        "hostingType": "hostedHalo", "authUrl": f"{server.url}/auth", "tenant": "acme",
        "resourceApiUrl": f"{server.url}/api", "client_id": "cid", "client_secret": "s&c"})
    with manager.session(TENANT, "halo", base_url=f"{server.url}/api") as http:
        http.get("/Tickets", params={"page_no": "1"}).raise_for_status()
        http.post("/Tickets", json=[{"summary": "s"}]).raise_for_status()
    login, *calls = server.seen
    assert login["path"] == "/auth/token?tenant=acme" and cache.fetches == 1
    assert parse_qs(login["body"].decode()) == {"client_id": ["cid"], "client_secret": ["s&c"],
                                                "grant_type": ["client_credentials"],
                                                "scope": ["admin edit:tickets edit:customers"]}
    assert [(c["method"], c["path"], c["headers"]["Authorization"]) for c in calls] == [
        ("GET", "/api/Tickets?page_no=1", "Bearer halo-tok"), ("POST", "/api/Tickets", "Bearer halo-tok")]
    assert json.loads(calls[1]["body"]) == [{"summary": "s"}]


def test_filemaker_session_is_opened_once_and_kept_for_its_idle_timeout(manager: CredentialManager,
                                                                      server: RecordingServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    cache = _cache(monkeypatch, target=server.url, clock=clock)
    server.answers["/fmi/data/v1/databases/Sales/sessions"] = (200, {"response": {"token": "fm-1"}})
    manager.create_connection(TENANT, "fileMaker", "fm", {"host": "fm.example.com", "db": "Sales", "login": "é",
                                                          "password": "p:w"})
    root = nodes.base_url("fileMaker", manager.get_connection(TENANT, "fm"))
    assert root == "https://fm.example.com/fmi/data/v1/databases/Sales"
    with manager.session(TENANT, "fm") as http:
        http.mount("https://", ToLocal(server.url))
        http.get(f"{root}/layouts").raise_for_status()
        http.get(f"{root}/scripts").raise_for_status()
        clock[0] += FILEMAKER_SESSION_SECONDS  # past keep_for less the leeway: a new session
        http.get(f"{root}/layouts").raise_for_status()
    logins = [s for s in server.seen if s["path"].endswith("/sessions")]
    assert len(logins) == 2 and cache.fetches == 2
    assert logins[0]["headers"]["Authorization"] == "Basic " + base64.b64encode("é:p:w".encode()).decode()
    assert json.loads(logins[0]["body"]) == {"fmDataSource": [{"database": "fm.example.com", "username": "é",
                                                               "password": "p:w"}]}
    calls = [s for s in server.seen if not s["path"].endswith("/sessions")]
    assert [c["headers"]["Authorization"] for c in calls] == ["Bearer fm-1"] * 3


def test_filemaker_login_without_a_token_is_a_clear_error() -> None:
    creds = {"host": "h", "db": "d", "login": "l", "password": "p"}

    def fetch(_: TokenRequest) -> dict[str, object]:
        return {"messages": [{"code": "212"}]}

    entry = nodes.get("fileMaker")
    assert entry is not None
    with pytest.raises(CodeAuthError, match="fileMaker: the Data API login answered without a session token"):
        entry.authenticate(creds, {"method": "GET", "uri": "https://h/x", "headers": {}}, Context(0, fetch))


def test_hunter_and_jenkins_as_their_nodes_send_them(manager: CredentialManager, server: RecordingServer) -> None:
    manager.create_connection(TENANT, "hunterApi", "hu", {"apiKey": "k&1"})
    manager.create_connection(TENANT, "jenkinsApi", "je", {"username": "ü", "apiKey": "t0k",
                                                           "baseUrl": f"{server.url}/"})
    with manager.session(TENANT, "hu") as http:
        http.get(f"{server.url}/v2/domain-search", params={"domain": "x.com"}).raise_for_status()
        http.get(f"{server.url}/v2/domain-search", params={"api_key": "mine"}).raise_for_status()
    assert [parse_qs(urlsplit(s["path"]).query) for s in server.seen] == [
        {"api_key": ["k&1"], "domain": ["x.com"]}, {"api_key": ["mine"]}]  # the caller's own key wins, as in n8n
    je = manager.get_connection(TENANT, "je")
    with manager.session(TENANT, "je", base_url=nodes.base_url("jenkinsApi", je)) as http:
        http.post("/job/a/build", data=b"x=1", headers={"Content-Type": "text/plain"}).raise_for_status()
    seen = server.seen[-1]
    assert seen["path"] == "/job/a/build" and seen["body"] == b"x=1"
    assert seen["headers"]["Authorization"] == "Basic " + base64.b64encode("ü:t0k".encode()).decode()
