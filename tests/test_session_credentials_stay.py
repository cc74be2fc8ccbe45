"""``session()``: credentials never follow a redirect to another origin, n8n's domain restriction, base_url,
and literal values that begin with ``=`` reach the provider unchanged. Two real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fluxnex import Expression
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ValidationError
from fluxnex.n8n.domains import DomainNotAllowed, host_allowed
from fluxnex.storage.crypto import associated_data, generate_key_line
from fluxnex.testing.api_server import ApiRequest, ApiServer

TENANT = uuid.uuid4()
SECRET = "s3cr3t-VALUE-never-elsewhere"

CREDENTIALS: dict[str, tuple[str, dict[str, Any]]] = {
    "header": ("httpHeaderAuth", {"name": "X-Api-Key", "value": SECRET}),
    "basic": ("httpBasicAuth", {"user": "ada", "password": SECRET}),
    "query": ("httpQueryAuth", {"name": "api_key", "value": SECRET}),
    "custom": ("httpCustomAuth", {"json": json.dumps(
        {"headers": {"X-Custom": SECRET}, "qs": {"token": SECRET}, "body": {"secret": SECRET}})}),
    "bearer": ("oAuth2Api", {
        "grantType": "clientCredentials", "clientId": "cid", "clientSecret": "csecret",
        "accessTokenUrl": "http://127.0.0.1:9/token", "authentication": "header",
        "oauthTokenData": {"access_token": SECRET, "token_type": "Bearer"}}),
}


def _carries_secret(request: ApiRequest) -> bool:
    basic = base64.b64encode(f"ada:{SECRET}".encode()).decode()
    seen = json.dumps(request.headers) + json.dumps(request.query) + request.body.decode("utf-8", "replace")
    return SECRET in seen or basic in seen


@pytest.fixture
def mgr(tmp_path: Path) -> Iterator[CredentialManager]:
    (tmp_path / "db").mkdir()
    manager = CredentialManager(f"sqlite:///{tmp_path}/db/fluxnex.db", generate_key_line("k1"))
    for name, (type_name, data) in CREDENTIALS.items():
        manager.create_connection(TENANT, type_name, name, data)
    yield manager
    manager.close()


@pytest.fixture
def other() -> Iterator[ApiServer]:
    """The second origin, which must never see a credential."""
    with ApiServer(lambda r: (200, {"ok": True}, {})) as server:
        yield server


def _redirecting_to(target: str, status: int = 302) -> ApiServer:
    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        if request.path == "/start":
            return status, {}, {"Location": target}
        if request.path == "/again":
            return status, {}, {"Location": "/final"}
        return 200, {"ok": True}, {}

    return ApiServer(answer)


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("connection", sorted(CREDENTIALS))
def test_a_redirect_to_another_port_carries_no_credential(
    mgr: CredentialManager, other: ApiServer, connection: str, status: int
) -> None:
    with _redirecting_to(other.url + "/landing", status) as first, mgr.session(TENANT, connection) as s:
        response = s.post(first.url + "/start", json={"payload": 1})
    assert response.status_code == 200 and [r.status_code for r in response.history] == [status]
    assert _carries_secret(first.received[0])  # the addressed origin did get the credential
    assert len(other.received) == 1 and not _carries_secret(other.received[0])
    if status == 307:
        assert json.loads(other.received[0].body) == {"payload": 1}  # the caller's own body still follows


def test_a_redirect_within_the_origin_stays_authenticated(mgr: CredentialManager) -> None:
    with _redirecting_to("/again") as server, mgr.session(TENANT, "header") as s:
        response = s.get(server.url + "/start")
    assert response.status_code == 200 and len(response.history) == 2
    assert [r.path for r in server.received] == ["/start", "/again", "/final"]
    assert all(r.headers.get("x-api-key") == SECRET for r in server.received)


def test_once_a_chain_left_the_origin_coming_back_carries_no_credential(mgr: CredentialManager) -> None:
    with _redirecting_to("/final") as home:
        with _redirecting_to(home.url + "/final") as away, mgr.session(TENANT, "header") as s:
            home.answer = lambda r: (302, {}, {"Location": away.url + "/start"}) if r.path == "/start" \
                else (200, {}, {})
            response = s.get(home.url + "/start")
        assert response.status_code == 200
        assert [r.headers.get("x-api-key") for r in home.received] == [SECRET, None]
        assert not any(_carries_secret(r) for r in away.received)


def test_redirects_can_be_turned_off_and_the_302_is_returned(mgr: CredentialManager, other: ApiServer) -> None:
    with _redirecting_to(other.url) as first, mgr.session(TENANT, "header") as s:
        response = s.get(first.url + "/start", allow_redirects=False)
    assert response.status_code == 302 and other.received == []


def _restrict(mgr: CredentialManager, name: str, **fields: str) -> None:
    _type_name, data = CREDENTIALS[name]
    mgr.update_connection(TENANT, name, {**data, **fields})


def test_allowed_domains_refuse_other_hosts_before_sending(mgr: CredentialManager, other: ApiServer) -> None:
    _restrict(mgr, "header", allowedHttpRequestDomains="domains", allowedDomains="localhost, *.example.com")
    with mgr.session(TENANT, "header") as s:
        with pytest.raises(DomainNotAllowed, match=r"may not send requests to .127\.0\.0\.1.") as info:
            s.get(other.url + "/x")
        response = s.get(other.url.replace("127.0.0.1", "localhost") + "/x")
    assert SECRET not in str(info.value) and "\n" not in str(info.value)
    assert response.status_code == 200 and len(other.received) == 1  # only the allowed request was sent


def test_allowed_domains_none_refuses_every_request(mgr: CredentialManager, other: ApiServer) -> None:
    _restrict(mgr, "basic", allowedHttpRequestDomains="none")
    with mgr.session(TENANT, "basic") as s, pytest.raises(DomainNotAllowed, match="'none'"):
        s.get(other.url)
    assert other.received == []


@pytest.mark.parametrize(("fields", "problem"), [
    ({"allowedHttpRequestDomains": "some"}, "is not one of"),
    ({"allowedHttpRequestDomains": "domains"}, "allowedDomains: is required"),
    ({"allowedHttpRequestDomains": "domains", "allowedDomains": "  "}, "allowedDomains: is required"),
])
def test_domain_restriction_fields_are_validated(mgr: CredentialManager, fields: dict[str, str],
                                                 problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _restrict(mgr, "header", **fields)


@pytest.mark.parametrize(("host", "allowed", "expected"), [
    ("api.example.com", "api.example.com", True),
    ("API.Example.com.", "api.example.com", True),
    ("example.com", "*.example.com", False),  # a wildcard matches subdomains only, as in n8n
    ("a.b.example.com", "*.example.com", True),
    ("evilexample.com", "*.example.com", False),
    ("example.com.evil.io", "example.com", False),
    ("x.io", " , x.io ,", True),
    ("", "x.io", False),
])
def test_host_matching_follows_n8n(host: str, allowed: str, expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


def test_base_url_resolves_relative_paths(mgr: CredentialManager, other: ApiServer) -> None:
    with mgr.session(TENANT, "header", base_url=other.url + "/v2") as s:
        assert s.get("items?limit=1").status_code == 200
        assert s.get("/items/7").status_code == 200
        assert s.get(other.url + "/absolute").status_code == 200
    assert [(r.path, r.query) for r in other.received] == [
        ("/v2/items", {"limit": "1"}), ("/v2/items/7", {}), ("/absolute", {})]


LITERAL = "=MyPa55{{word"


def test_a_literal_value_beginning_with_equals_reaches_the_provider_unchanged(
    mgr: CredentialManager, other: ApiServer
) -> None:
    mgr.create_connection(TENANT, "httpHeaderAuth", "literal", {"name": "X-Api-Key", "value": LITERAL})
    mgr.create_connection(TENANT, "httpBasicAuth", "literal-basic", {"user": "u", "password": LITERAL})
    with mgr.session(TENANT, "literal") as s:
        s.get(other.url)
    with mgr.session(TENANT, "literal-basic") as s:
        s.get(other.url)
    assert other.received[0].headers["x-api-key"] == LITERAL
    assert other.received[1].headers["authorization"] == "Basic " + base64.b64encode(f"u:{LITERAL}".encode()).decode()
    assert mgr.get_connection(TENANT, "literal")["value"] == LITERAL


def test_marked_expressions_are_evaluated_and_survive_a_read_and_write_back(
    mgr: CredentialManager, other: ApiServer
) -> None:
    expression = "={{ 'k-' + 'abc'.toUpperCase() }}"
    mgr.create_connection(TENANT, "httpHeaderAuth", "json-mark",
                          {"name": "X-Api-Key", "value": expression, "$expressions": ["value"]})
    mgr.create_connection(TENANT, "httpHeaderAuth", "py-mark", {"name": "X-Api-Key", "value": Expression(expression)})
    mgr.update_connection(TENANT, "py-mark", mgr.get_connection(TENANT, "py-mark"))  # round trip keeps the mark
    for name in ("json-mark", "py-mark"):
        with mgr.session(TENANT, name) as s:
            s.get(other.url)
    assert [r.headers["x-api-key"] for r in other.received] == ["k-ABC", "k-ABC"]


def test_a_mark_naming_a_non_expression_is_refused(mgr: CredentialManager) -> None:
    with pytest.raises(ValidationError, match=r"\$expressions: names 'name'"):
        mgr.create_connection(TENANT, "httpHeaderAuth", "bad-mark",
                              {"name": "X", "value": "v", "$expressions": ["name"]})
    assert "bad-mark" not in {c.name for c in mgr.list_connections(TENANT)}


def test_rows_written_before_marks_existed_keep_n8ns_rule(mgr: CredentialManager, other: ApiServer) -> None:
    mgr.create_connection(TENANT, "httpHeaderAuth", "legacy", {"name": "X-Api-Key", "value": "v"})
    row = mgr.store.get(TENANT, "legacy")
    assert row is not None
    old_plaintext = json.dumps({"name": "X-Api-Key", "value": "={{ 'old-' + 'style' }}"}).encode()
    envelope = mgr.keyring.encrypt(old_plaintext, associated_data(row.tenant_id, row.id, row.type))
    assert mgr.store.update_cas(row.id, row.version, data=envelope) is not None
    with mgr.session(TENANT, "legacy") as s:
        s.get(other.url)
    assert other.received[0].headers["x-api-key"] == "old-style"
