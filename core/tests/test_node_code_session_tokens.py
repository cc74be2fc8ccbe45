"""Node-code types (``fluxnex.n8n.code_auth.nodes``) through ``CredentialManager.session()`` against a local HTTP
server, without n8n: PayPal's client-credentials token (fetched once, then a Bearer), Odoo's JSON-RPC login (then
the database, user id and password in front of the call's arguments) and S3's signature, checked by a SigV4
verifier over what the server received (the differential test compares the same requests with n8n's nodes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit

import pytest
import requests
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle import builtin
from fluxnex.lifecycle.code_tokens import CodeTokenCache
from fluxnex.n8n.code_auth import CodeAuthError
from http_recorder import *  # noqa: F403 - the server fixture
from http_recorder import RecordingServer, ToLocal

TENANT = uuid.UUID("00000000-0000-0000-0000-00000000000d")


def _tokens(monkeypatch: pytest.MonkeyPatch, http: requests.Session) -> CodeTokenCache:
    cache = CodeTokenCache(lambda: http)
    monkeypatch.setattr(builtin, "_tokens", cache)
    return cache


def test_paypal_fetches_one_client_credentials_token_and_sends_it_as_bearer(
        manager: CredentialManager, server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    token_http = requests.Session()
    token_http.mount("https://", ToLocal(server.url))  # the sandbox token host is fixed
    cache = _tokens(monkeypatch, token_http)
    server.answers["/v1/oauth2/token"] = (200, {"access_token": "A21.local", "expires_in": 32400})
    manager.create_connection(TENANT, "payPalApi", "pp", {"clientId": "clïent", "secret": "s3cret", "env": "sanbox"})
    with manager.session(TENANT, "pp") as http:
        for n in range(3):
            http.post(f"{server.url}/v1/payments/payouts", json={"n": n}).raise_for_status()
    token_posts = [s for s in server.seen if s["path"] == "/v1/oauth2/token"]
    calls = [s for s in server.seen if s["path"] == "/v1/payments/payouts"]
    assert len(token_posts) == 1 and cache.fetches == 1 and len(calls) == 3
    assert token_posts[0]["headers"]["Authorization"] == "Basic " + base64.b64encode("clïent:s3cret".encode()).decode()
    assert parse_qs(token_posts[0]["body"].decode()) == {"grant_type": ["client_credentials"]}
    assert all(c["headers"]["Authorization"] == "Bearer A21.local" for c in calls)
    assert [json.loads(c["body"]) for c in calls] == [{"n": 0}, {"n": 1}, {"n": 2}]


def _rpc(model: str, method: str, *args: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "call", "id": 41,
            "params": {"service": "object", "method": "execute", "args": [model, method, *args]}}


def test_odoo_logs_in_then_puts_db_uid_and_password_in_front_of_the_arguments(
        manager: CredentialManager, server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _tokens(monkeypatch, requests.Session())
    server.answers["/jsonrpc"] = (200, {"jsonrpc": "2.0", "id": 41, "result": 7})
    manager.create_connection(TENANT, "odooApi", "o", {"url": server.url + "/", "db": "prod", "username": "bot",
                                                       "password": "pässword"})
    with manager.session(TENANT, "o") as http:
        http.post(f"{server.url}/jsonrpc", json=_rpc("res.partner", "read", [1], ["name"])).raise_for_status()
    login, call = (json.loads(s["body"]) for s in server.seen)
    assert login == {"jsonrpc": "2.0", "method": "call", "id": 41,
                     "params": {"service": "common", "method": "login", "args": ["prod", "bot", "pässword"]}}
    assert call == _rpc("prod", 7, "pässword", "res.partner", "read", [1], ["name"])  # type: ignore[arg-type]
    assert server.seen[1]["headers"]["Connection"] == "keep-alive"


def test_odoo_refused_login_sends_nothing_else_and_names_no_secret(
        manager: CredentialManager, server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _tokens(monkeypatch, requests.Session())
    server.answers["/jsonrpc"] = (200, {"jsonrpc": "2.0", "id": 41, "result": False})
    manager.create_connection(TENANT, "odooApi", "o", {"url": server.url, "db": "prod", "username": "bot",
                                                       "password": "wrong-pass"})
    with manager.session(TENANT, "o") as http, pytest.raises(CodeAuthError, match="refused the login") as info:
        http.post(f"{server.url}/jsonrpc", json=_rpc("res.partner", "unlink", [3]))
    assert len(server.seen) == 1 and "wrong-pass" not in str(info.value)


def _verify_sigv4(seen: dict[str, Any], secret: str) -> str:
    """Recompute the S3 SigV4 signature from the request as received; returns the signed header names."""
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    fields = dict(part.strip().split("=", 1) for part in headers["authorization"].split(" ", 1)[1].split(","))
    _, date, region, service, _ = fields["Credential"].split("/")
    names = fields["SignedHeaders"].split(";")
    path, _, query = seen["path"].partition("?")
    canonical_path = "/".join(quote(unquote(p), safe="-_.~") for p in path.split("/"))
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                               for k, v in sorted(parse_qsl(query, keep_blank_values=True)))
    assert headers["x-amz-content-sha256"] == hashlib.sha256(seen["body"]).hexdigest()
    canonical = "\n".join([seen["method"], canonical_path, canonical_query,
                           *(f"{n}:{' '.join(headers[n].split())}" for n in names), "", ";".join(names),
                           headers["x-amz-content-sha256"]])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() == fields["Signature"]
    assert (region, service) == ("eu-west-1", "s3")
    return fields["SignedHeaders"]


def test_s3_signs_the_bytes_it_sends_binary_bodies_included(manager: CredentialManager,
                                                            server: RecordingServer) -> None:
    manager.create_connection(TENANT, "s3", "s", {"endpoint": server.url, "region": "eu-west-1", "accessKeyId": "AK",
                                                  "secretAccessKey": " S3CRET ", "forcePathStyle": True})
    payload = bytes(range(256)) * 4  # not UTF-8
    with manager.session(TENANT, "s") as http:
        http.put(f"{server.url}/bucket/dir/x y+é.bin", data=payload, headers={"x-amz-acl": "private"}
                 ).raise_for_status()
        http.get(f"{server.url}/bucket", params={"list-type": "2", "prefix": "dir/a b"}).raise_for_status()
    put, listing = server.seen
    assert put["body"] == payload and urlsplit(put["path"]).path == "/bucket/dir/x%20y%2B%C3%A9.bin"
    signed = _verify_sigv4(put, "S3CRET")
    # the session's Accept and Accept-Encoding are signed too, as aws4 signs every header it is given
    assert signed == ("accept;accept-encoding;content-length;content-type;host;x-amz-acl;x-amz-content-sha256;"
                      "x-amz-date")
    assert put["headers"]["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"  # aws4's default
    assert _verify_sigv4(listing, "S3CRET") == "accept;accept-encoding;host;x-amz-content-sha256;x-amz-date"
    assert "S3CRET" not in json.dumps([s["headers"] for s in server.seen])
