"""Differential test: the token request each pre-authenticated type sends, and what it keeps from the answer,
against n8n's own ``preAuthentication`` code (``tests/n8n_engine/preauth.cjs``, a frozen clock, two sets of
values per type). RS256 assertions are compared by their verified header and claims (Entra's random ``jti``
aside), since both sides sign the same content with the same key."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
from fluxnex.contract.plugins import TypeRegistry, _new_plugin_manager
from fluxnex.n8n import preauth, register_catalog
from fluxnex.n8n.preauth import TokenResponse
from fluxnex.n8n.preauth._specs import SPECS
from fluxnex.testing.n8n_catalog import catalog_path
from preauth_engine import credentials_dir, node_path
from preauth_support import CERT, FLAT_PEM, KEY, PEM, TENANT_GUID

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).parent / "n8n_engine" / "preauth.cjs"
NOW = 1_767_225_600.123  # 2026-01-01T00:00:00.123Z, frozen on both sides

VALUES: dict[str, list[dict[str, Any]]] = {
    "metabaseApi": [{"url": "https://mb.example.com/", "username": "ann", "password": "p w"},
                    {"url": "https://mb.example.com", "username": "", "password": ""}],
    "formIoApi": [{"environment": "selfHosted", "domain": "https://forms.example.com", "email": "a@b.c",
                   "password": "pw"}, {"email": "a@b.c", "password": "pw"}],
    "baserowApi": [{"host": "https://br.example.com/", "username": "ann", "password": "pw"}, {}],
    "wekanApi": [{"url": "https://wk.example.com/", "username": "ann", "password": "pw"},
                 {"url": "https://wk.example.com", "username": "ann", "password": "pw"}],
    "zscalerZiaApi": [{"baseUrl": "zsapi.example.net/", "username": "ann", "password": "pw", "apiKey": "abcdefghijkl"},
                      {"baseUrl": "zsapi.example.net", "username": "ann", "password": "pw", "apiKey": "xyz"}],
    "venafiTlsProtectDatacenterApi": [{"domain": "https://tpp.example.com", "clientId": "c1", "username": "ann",
                                       "password": "pw"},
                                      {"domain": "https://tpp.example.com", "clientId": "c1", "username": "ann",
                                       "password": "pw", "allowUnauthorizedCerts": False}],
    "auth0ManagementApi": [{"domain": "acme.eu.auth0.com", "clientId": "c1", "clientSecret": "s1"}, {}],
    "ciscoUmbrellaApi": [{"apiKey": "k1", "secret": "s1"}, {"apiKey": "k:2", "secret": "s é"}],
    "crowdStrikeOAuth2Api": [{"url": "https://api.crowdstrike.com/", "clientId": "c1", "clientSecret": "s&1"},
                             {"url": "https://api.eu-1.crowdstrike.com", "clientId": "c1", "clientSecret": "s1"}],
    "atlassianServiceAccountApi": [{"clientId": " c1 ", "clientSecret": "s=1"}, {"clientId": "c1"}],
    "microsoftEntraServicePrincipalApi": [
        {"tenantId": TENANT_GUID, "clientId": " app-1 ", "clientSecret": "s1",
         "graphApiBaseUrl": "https://graph.microsoft.us/"},
        {"authentication": "certificate", "tenantId": "contoso.onmicrosoft.com", "clientId": "app-1",
         "privateKey": FLAT_PEM, "certificate": CERT},
    ],
    "githubAppApi": [{"appId": "42", "installationId": "7", "privateKey": FLAT_PEM},
                     {"server": "https://ghe.example.com/api/v3/", "appId": "Iv1.abc", "installationId": "9",
                      "privateKey": PEM}],
    "salesforceJwtApi": [{"environment": "sandbox", "clientId": "ck", "username": "ann@x", "privateKey": PEM},
                         {"clientId": "ck", "username": "ann@x", "privateKey": FLAT_PEM,
                          "myDomainUrl": "https://acme.my.salesforce.com/"}],
}

ANSWERS: dict[str, tuple[dict[str, Any], Any]] = {  # type -> (headers, body)
    "metabaseApi": ({}, {"id": "sess-1"}),
    "formIoApi": ({"x-jwt-token": "a.eyJleHAiOjE3NjcyMjkyMDB9.c"}, {"_id": "u"}),
    "baserowApi": ({}, {"token": "a.eyJleHAiOjE3NjcyMjkyMDB9.c"}),
    "wekanApi": ({}, {"token": "wk-1", "tokenExpires": "2026-03-01T00:00:00.000Z"}),
    "zscalerZiaApi": ({"set-cookie": ["other=1; Path=/", "JSESSIONID=zs-1; Path=/; Secure"]}, {}),
    "venafiTlsProtectDatacenterApi": ({}, {"access_token": "v-1", "expires": 1767229200}),
    "githubAppApi": ({}, {"token": "ghs_1", "expires_at": "2026-01-01T01:00:00Z"}),
    "salesforceJwtApi": ({}, {"access_token": "sf-1", "instance_url": "https://acme.my.salesforce.com"}),
}
_DEFAULT_ANSWER: tuple[dict[str, Any], Any] = ({}, {"access_token": "at-1", "expires_in": 3600})


def _registry() -> TypeRegistry:
    registry = TypeRegistry(_new_plugin_manager())
    register_catalog(registry, catalog_path())
    return registry


def _jwt_view(token: str, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    claims = jwt.decode(token, KEY.public_key(), algorithms=["RS256"], options={"verify_aud": False,
                                                                                  "verify_exp": False})
    return {"jwt": {"header": jwt.get_unverified_header(token),
                    "claims": {k: v for k, v in claims.items() if k not in drop}}}


def _normal(method: str, url: str, headers: dict[str, Any], body: Any, basic: Any, verify: bool) -> dict[str, Any]:
    """One comparable form of a request: header names lower-case, JWTs decoded, form bodies as dicts."""
    heads = {k.lower(): str(v) for k, v in headers.items()}
    if "authorization" in heads and heads["authorization"].startswith("Bearer ") and heads["authorization"].count(
            ".") == 2:
        heads["authorization"] = json.dumps(_jwt_view(heads["authorization"].split(" ", 1)[1]), sort_keys=True)
    if isinstance(body, dict):
        body = dict(body)
        for key in ("assertion", "client_assertion"):
            if key in body:
                body[key] = _jwt_view(body[key], drop=("jti",))
    return {"method": method, "url": url, "headers": heads, "body": body, "basic": basic, "verify": verify}


def _n8n_request(record: dict[str, Any]) -> dict[str, Any]:
    """What n8n's HTTP layer sends for the recorded options (axios: an object body is JSON unless the
    Content-Type is form-urlencoded; the token client sends its string body as it is)."""
    o = record["options"]
    url = (o.get("baseURL") or "") + o["url"]
    headers = dict(o.get("headers") or {})
    body = o.get("body")
    content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), None)
    if isinstance(body, str):
        body = dict(parse_qsl(body, keep_blank_values=True))
    elif isinstance(body, dict) and content_type == "application/x-www-form-urlencoded":
        body = {k: str(v) for k, v in body.items()}
    elif isinstance(body, dict) and content_type is None:
        headers["Content-Type"] = "application/json"
    auth = o.get("auth")
    basic = [auth["username"], auth["password"]] if auth else None
    return _normal(o.get("method", "GET"), url, headers, body, basic, not o.get("skipSslCertificateValidation"))


def _ours(ct: Any, effective: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    request = preauth.token_request(ct, effective, NOW)
    body = request.json if request.json is not None else request.form
    sent = _normal(request.method, request.url, request.headers, body,
                   list(request.basic) if request.basic else None, request.verify)
    headers, answer = ANSWERS.get(ct.name, _DEFAULT_ANSWER)
    lowered = {k.lower(): v if isinstance(v, list) else [v] for k, v in headers.items()}
    kept = preauth.parse_response(ct, TokenResponse(200, lowered, answer), NOW)
    kept.pop(preauth.EXPIRY_FIELD)
    return sent, kept


def test_requests_and_results_match_n8n_preauthentication() -> None:
    registry = _registry()
    classes = {p.name.removesuffix(".credentials.js"): p.name for p in credentials_dir().glob("*.credentials.js")}
    cases, ours = [], []
    for type_name in sorted(preauth.implemented()):
        ct = registry.get(type_name)
        class_name = next(c for c in classes if c[0].lower() + c[1:] == type_name)
        for values in VALUES[type_name]:
            effective = ct.effective_data(values)
            headers, body = ANSWERS.get(type_name, _DEFAULT_ANSWER)
            cases.append({"file": classes[class_name], "className": class_name, "credentials": effective,
                          "now": NOW, "response": {"headers": headers, "body": body}})
            try:
                ours.append((type_name, *_ours(ct, effective)))
            except preauth.PreAuthError as exc:
                ours.append((type_name, {"error": str(exc)}, {}))
    env = {**os.environ, "NODE_PATH": node_path()}
    out = subprocess.run(["node", str(HARNESS)], input=json.dumps({"dir": str(credentials_dir()), "cases": cases}),
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    theirs = json.loads(out.stdout)
    mismatches = []
    for (type_name, sent, kept), reference in zip(ours, theirs, strict=True):
        if not reference["ok"]:
            if "error" not in sent or sent["error"] != reference["error"]:
                mismatches.append((type_name, "n8n raised", reference["error"], sent))
            continue
        assert len(reference["requests"]) == 1, type_name
        expected = _n8n_request(reference["requests"][0])
        if sent != expected:
            mismatches.append((type_name, "request", expected, sent))
        result = {k: reference["result"].get(k) for k in kept}
        if result != kept:
            mismatches.append((type_name, "stored", result, kept))
    assert not mismatches, json.dumps(mismatches, indent=1, default=str)[:6000]
    assert len(ours) == 26
    assert SPECS.keys() == preauth.implemented()
