"""n8n's 13 pre-authenticated types: each fetches its token as its ``preAuthentication`` does, stores it encrypted,
reuses it, and sends it as its ``authenticate`` says; against a local server playing each token endpoint."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConnectionExpired
from fluxnex.n8n import preauth
from fluxnex.n8n.preauth._specs import SPECS
from fluxnex.storage.crypto import generate_key_line
from fluxnex.storage.store import Status
from fluxnex.testing.n8n_catalog import cache_dir, catalog_path
from preauth_support import CERT, FLAT_PEM, KEY, PEM, TENANT_GUID, FakeTokenServer, route_to


def _cases(url: str) -> dict[str, tuple[dict[str, Any], str, str, Any]]:
    """type -> (data, expected Host, expected path, check(body, headers) -> None)."""
    host = url.removeprefix("http://")

    def fields(**expected: Any) -> Any:
        def check(body: Any, headers: dict[str, str]) -> None:
            for key, value in expected.items():
                assert body[key] == value, key
        return check

    def jwt_claims(expected_aud: str | None, **claims: Any) -> Any:
        def check(body: Any, headers: dict[str, str]) -> None:
            token = body["assertion"] if isinstance(body, dict) else headers["authorization"].split()[1]
            decoded = jwt.decode(token, KEY.public_key(), algorithms=["RS256"], audience=expected_aud,
                                 options={"verify_aud": expected_aud is not None})
            for key, value in claims.items():
                assert decoded[key] == value, key
        return check

    def entra(body: Any, headers: dict[str, str]) -> None:
        assert body["grant_type"] == "client_credentials" and body["scope"] == "https://graph.microsoft.com/.default"
        assertion = jwt.decode(body["client_assertion"], KEY.public_key(), algorithms=["RS256"],
                               audience=f"https://login.microsoftonline.com/{TENANT_GUID}/oauth2/v2.0/token")
        assert assertion["iss"] == assertion["sub"] == "app-1" and "client_secret" not in body
        assert jwt.get_unverified_header(body["client_assertion"])["x5t"]

    return {
        "metabaseApi": ({"url": url + "/", "username": "ann", "password": "pw"}, host, "/api/session",
                        fields(username="ann", password="pw")),
        "formIoApi": ({"environment": "selfHosted", "domain": url, "email": "a@b.c", "password": "pw"}, host,
                      "/user/login", fields(data={"email": "a@b.c", "password": "pw"})),
        "baserowApi": ({"host": url + "/", "username": "ann", "password": "pw"}, host, "/api/user/token-auth/",
                       fields(username="ann", password="pw")),
        "wekanApi": ({"url": url, "username": "ann", "password": "pw"}, host, "/users/login",
                     fields(username="ann", password="pw")),
        "zscalerZiaApi": ({"baseUrl": "zsapi.example.net/", "username": "ann", "password": "pw",
                           "apiKey": "abcdefghijkl"}, "zsapi.example.net", "/api/v1/authenticatedSession",
                          lambda body, headers: (_check_zscaler(body), None)),
        "venafiTlsProtectDatacenterApi": ({"domain": url, "clientId": "c1", "username": "ann", "password": "pw"},
                                          host, "/vedauth/authorize/oauth",
                                          fields(client_id="c1", username="ann", scope="certificate:manage")),
        "auth0ManagementApi": ({"domain": "acme.eu.auth0.com", "clientId": "c1", "clientSecret": "s1"},
                               "acme.eu.auth0.com", "/oauth/token",
                               fields(client_id="c1", client_secret="s1", grant_type="client_credentials",
                                      audience="https://acme.eu.auth0.com/api/v2/")),
        "ciscoUmbrellaApi": ({"apiKey": "k1", "secret": "s1"}, "api.umbrella.com",
                             "/auth/v2/token?grant_type=client_credentials",
                             lambda body, headers: _check_basic(headers, "k1", "s1")),
        "crowdStrikeOAuth2Api": ({"url": url + "/", "clientId": "c1", "clientSecret": "s1"}, host,
                                 "/oauth2/token", fields(client_id="c1", client_secret="s1")),
        "atlassianServiceAccountApi": ({"clientId": " c1 ", "clientSecret": "s1"}, "auth.atlassian.com",
                                       "/oauth/token",
                                       fields(grant_type="client_credentials", client_id="c1", client_secret="s1")),
        "microsoftEntraServicePrincipalApi": ({"authentication": "certificate", "tenantId": TENANT_GUID,
                                               "clientId": "app-1", "privateKey": FLAT_PEM, "certificate": CERT},
                                              "login.microsoftonline.com", f"/{TENANT_GUID}/oauth2/v2.0/token",
                                              entra),
        "githubAppApi": ({"server": url + "/", "appId": "42", "installationId": "7", "privateKey": FLAT_PEM}, host,
                         "/app/installations/7/access_tokens", jwt_claims(None, iss="42")),
        "salesforceJwtApi": ({"environment": "sandbox", "clientId": "ck", "username": "ann@x", "privateKey": PEM},
                             "test.salesforce.com", "/services/oauth2/token",
                             jwt_claims("https://test.salesforce.com", iss="ck", sub="ann@x")),
    }


def _check_zscaler(body: dict[str, Any]) -> None:
    stamp = body["timestamp"]
    high, low = stamp[-6:], str(int(stamp[-6:]) >> 1).rjust(6, "0")
    key = "abcdefghijkl"
    assert body["apiKey"] == "".join(key[int(c)] for c in high) + "".join(key[int(c) + 2] for c in low)
    assert body["username"] == "ann" and body["password"] == "pw"


def _check_basic(headers: dict[str, str], user: str, password: str) -> None:
    import base64

    assert headers["authorization"] == "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert headers["content-type"] == "x-www-form-urlencoded"  # n8n's header, typo included


@pytest.fixture
def server() -> Iterator[FakeTokenServer]:
    with FakeTokenServer() as fake:
        yield fake


def test_the_thirteen_expirable_types_of_the_catalog_are_implemented(catalog: None) -> None:
    raw = json.loads(catalog_path().read_text())
    expirable = {t["name"] for t in raw
                 if any((p.get("typeOptions") or {}).get("expirable") for p in t.get("properties", []))}
    assert expirable == preauth.implemented() and len(expirable) == 13
    sources = Path(cache_dir()).glob("n8npre/x/package/dist/credentials/*.credentials.js")
    with_method = {p.name for p in sources if "preAuthentication(" in p.read_text()}
    assert not with_method or len(with_method) == 13  # checked when the package's sources are unpacked


@pytest.mark.parametrize("type_name", sorted(preauth.implemented()))
def test_token_fetched_stored_encrypted_reused_and_sent(type_name: str, catalog: None, server: FakeTokenServer,
                                                         tmp_path: Path) -> None:
    data, host, path, check = _cases(server.url)[type_name]
    mgr = CredentialManager(f"sqlite:///{tmp_path}/f.db", generate_key_line("k1"))
    route_to(mgr.http, server.port)
    tenant = uuid.uuid4()
    try:
        mgr.create_connection(tenant, type_name, "c", data)
        first = mgr.get_connection(tenant, "c")
        assert server.token_calls == 1
        sent = server.requests[0]
        assert (sent["host"], sent["path"]) == (host, path)
        check(sent["body"], sent["headers"])
        field = SPECS[type_name].field
        assert first[field] and (first[field] == server.issued[0] or server.issued[0] in first[field])
        envelope = json.dumps(mgr.store.get(tenant, "c").data)  # type: ignore[union-attr]
        assert str(first[field]) not in envelope  # encrypted like the rest
        assert mgr.get_connection(tenant, "c")[field] == first[field]
        assert server.token_calls == 1  # reused
        info = mgr.get_connection_info(tenant, "c")
        known = type_name not in ("metabaseApi", "zscalerZiaApi", "salesforceJwtApi")
        assert (info.expires_at is not None) == known  # the answer's lifetime, where it has one
        prepared = mgr.session(tenant, "c").prepare_request(__import__("requests").Request("GET", server.url))
        authed = mgr.session(tenant, "c")._authenticate(prepared, type_name, first)  # type: ignore[attr-defined]
        assert server.issued[0] in " ".join(authed.headers.values())
    finally:
        mgr.close()


def test_refused_credentials_expire_the_connection_and_the_suggested_update_fixes_it(
    catalog: None, server: FakeTokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    from click.testing import CliRunner
    from fluxnex.cli import cli

    server.status = 401
    url, keys = f"sqlite:///{tmp_path}/f.db", generate_key_line("k1")
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", url)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", keys)
    mgr = CredentialManager(url, keys)
    tenant = uuid.uuid4()
    try:
        mgr.create_connection(tenant, "metabaseApi", "my m", {"url": server.url, "username": "a", "password": "bad"})
        with pytest.raises(ConnectionExpired) as caught:
            mgr.get_connection(tenant, "my m")
        message = str(caught.value)
        assert "HTTP 401" in message and "bad" not in message and "\n" not in message
        assert mgr.get_connection_info(tenant, "my m").status == Status.EXPIRED
        server.status = 200
        command = message.split("`")[1]
        assert command.startswith("fluxnex connections update ")
        result = CliRunner().invoke(cli, shlex.split(command)[1:], input='{"password": "good"}')
        assert result.exit_code == 0, result.output
        assert mgr.get_connection(tenant, "my m")["sessionToken"] == server.issued[-1]  # logged in again
        assert server.requests[-1]["body"]["password"] == "good"
        assert mgr.get_connection_info(tenant, "my m").status == Status.ACTIVE
    finally:
        mgr.close()


def test_changed_credentials_drop_the_old_token(catalog: None, server: FakeTokenServer, tmp_path: Path) -> None:
    mgr = CredentialManager(f"sqlite:///{tmp_path}/f.db", generate_key_line("k1"))
    tenant = uuid.uuid4()
    data = {"url": server.url, "username": "a", "password": "one"}
    try:
        mgr.create_connection(tenant, "metabaseApi", "m", data)
        assert mgr.get_connection(tenant, "m")["sessionToken"] == "tok-1"
        mgr.update_connection(tenant, "m", data={**mgr.get_connection(tenant, "m")})  # nothing changed
        assert mgr.get_connection(tenant, "m")["sessionToken"] == "tok-1" and server.token_calls == 1
        mgr.update_connection(tenant, "m", data={**data, "password": "two", "sessionToken": "tok-1"})
        assert mgr.get_connection(tenant, "m")["sessionToken"] == "tok-2"
        assert server.requests[-1]["body"]["password"] == "two"
    finally:
        mgr.close()


def test_a_known_expiry_fetches_again_before_the_token_lapses(catalog: None, server: FakeTokenServer,
                                                              tmp_path: Path) -> None:
    import time

    server.lifetime = 4  # expires_in: due once less than 20% of it (0.8 s) is left
    mgr = CredentialManager(f"sqlite:///{tmp_path}/f.db", generate_key_line("k1"))
    tenant = uuid.uuid4()
    try:
        mgr.create_connection(tenant, "auth0ManagementApi", "a",
                              {"domain": "acme.eu.auth0.com", "clientId": "c", "clientSecret": "s"})
        route_to(mgr.http, server.port)
        assert mgr.get_connection(tenant, "a")["sessionToken"] == "tok-1"
        stored = mgr.get_connection(tenant, "a")
        assert stored["sessionToken"] == "tok-1" and stored[preauth.EXPIRY_FIELD]["expires_in"] == 4
        time.sleep(3.4)  # inside the last 20% (or past the expiry on a slow machine): due either way
        assert mgr.get_connection(tenant, "a")["sessionToken"] == "tok-2"
        assert server.token_calls == 2
    finally:
        mgr.close()


def test_token_requests_keep_their_secrets_out_of_repr(catalog: None) -> None:
    from fluxnex.contract.plugins import get_registry

    ct = get_registry().get("auth0ManagementApi")
    request = preauth.token_request(ct, ct.effective_data({"domain": "d.example", "clientId": "c",
                                                            "clientSecret": "s3cr3t-value"}), 0.0)
    assert "s3cr3t-value" in json.dumps(request.to_json()) and "s3cr3t-value" not in repr(request)
