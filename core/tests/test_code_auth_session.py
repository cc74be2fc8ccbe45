"""Code-authenticated n8n types through ``CredentialManager.session()`` and ``test_connection`` against real local
HTTP servers: what reaches the server is what n8n's code produces (the differential test checks that part
against n8n itself), the caller's headers and body survive, fetched tokens are cached and fetched once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle import builtin
from fluxnex.lifecycle.code_tokens import CodeTokenCache, TokenFetchError
from fluxnex.n8n.code_auth import Context, TokenRequest, authenticate_options, implemented
from fluxnex.n8n.code_auth.requests_adapter import to_options
from fluxnex.testing.n8n_catalog import catalog_path
from http_recorder import *  # noqa: F403 - the server fixture
from http_recorder import RecordingServer, ToLocal

TENANT = uuid.UUID("00000000-0000-0000-0000-00000000000c")


def _b64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_ghost_admin_jwt_reaches_the_server_signed_and_connection_test_passes(manager: CredentialManager,
                                                                            server: RecordingServer) -> None:
    secret = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    manager.create_connection(TENANT, "ghostAdminApi", "g", {"url": server.url, "apiKey": f"kid1:{secret}"})
    result = manager.test_connection(TENANT, "g")
    assert result.ok, result.message
    seen = server.seen[-1]
    assert seen["path"] == "/ghost/api/v2/admin/pages/"
    scheme, token = seen["headers"]["Authorization"].split(" ")
    header, claims, signature = token.split(".")
    expected = hmac.new(bytes.fromhex(secret), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature
    assert scheme == "Ghost" and _b64url_json(header)["kid"] == "kid1"
    body = _b64url_json(claims)
    assert body["aud"] == "/v2/admin/" and body["exp"] - body["iat"] == 300


def test_datadog_replaces_headers_in_n8n_but_the_session_keeps_the_callers(manager: CredentialManager,
                                                                          server: RecordingServer) -> None:
    manager.create_connection(TENANT, "datadogApi", "d", {"apiKey": "API", "appKey": "APP"})
    with manager.session(TENANT, "d") as http:
        http.post(f"{server.url}/api/v1/series?x=1", json={"series": [1]}, headers={"X-Trace": "t"}).raise_for_status()
    seen = server.seen[-1]
    assert (seen["headers"]["DD-API-KEY"], seen["headers"]["DD-APPLICATION-KEY"]) == ("API", "APP")
    assert seen["headers"]["X-Trace"] == "t" and json.loads(seen["body"]) == {"series": [1]}
    assert seen["path"] == "/api/v1/series?x=1"


def test_woocommerce_basic_auth_or_credentials_in_the_query(manager: CredentialManager,
                                                            server: RecordingServer) -> None:
    manager.create_connection(TENANT, "wooCommerceApi", "w", {"consumerKey": "ck", "consumerSecret": "cs",
                                                              "url": server.url})
    manager.create_connection(TENANT, "wooCommerceApi", "wq", {"consumerKey": "ck", "consumerSecret": "cs",
                                                               "url": server.url, "includeCredentialsInQuery": True})
    with manager.session(TENANT, "w") as http:
        http.get(f"{server.url}/wp-json/wc/v3/orders", params={"page": "2"})
    assert server.seen[-1]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ck:cs").decode()
    with manager.session(TENANT, "wq") as http:
        http.get(f"{server.url}/wp-json/wc/v3/orders", params={"page": "2"})
    seen = server.seen[-1]
    assert "Authorization" not in seen["headers"]
    assert parse_qs(urlsplit(seen["path"]).query) == {"page": ["2"], "consumer_key": ["ck"], "consumer_secret": ["cs"]}


def test_pushover_token_joins_a_form_body(manager: CredentialManager, server: RecordingServer) -> None:
    manager.create_connection(TENANT, "pushoverApi", "p", {"apiKey": "TOKEN"})
    with manager.session(TENANT, "p") as http:
        http.post(f"{server.url}/1/messages.json", data={"user": "u", "message": "hi there"})
    seen = server.seen[-1]
    assert parse_qs(seen["body"].decode()) == {"user": ["u"], "message": ["hi there"], "token": ["TOKEN"]}
    assert int(seen["headers"]["Content-Length"]) == len(seen["body"])


def test_aws_sends_exactly_the_request_it_signed(manager: CredentialManager, server: RecordingServer) -> None:
    data = {"accessKeyId": "AKID", "secretAccessKey": "SECRET", "region": "eu-west-1"}
    manager.create_connection(TENANT, "aws", "a", data)
    with manager.session(TENANT, "a") as http:
        http.post(f"{server.url}/2015-03-31/functions/f/invocations?Qualifier=1", json={"a": "b c"},
                  headers={"X-Amz-Invocation-Type": "Event"})
    seen = server.seen[-1]
    # what the signer signed, from the same prepared request
    prepared = requests.Session().prepare_request(requests.Request(
        "POST", f"{server.url}/2015-03-31/functions/f/invocations?Qualifier=1", json={"a": "b c"},
        headers={"X-Amz-Invocation-Type": "Event"}))
    options, _ = to_options("aws", prepared)
    stamp = seen["headers"]["x-amz-date"]
    import datetime as dt

    now = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
    signed = authenticate_options("aws", {**data, "temporaryCredentials": False}, options, Context(now=now))
    assert seen["body"].decode() == signed["body"] == '{"a":"b c"}'
    assert seen["headers"]["authorization"] == signed["headers"]["authorization"]
    assert "SECRET" not in json.dumps(seen["headers"])
    assert seen["path"] == urlsplit(signed["url"]).path + "?" + urlsplit(signed["url"]).query
    assert int(seen["headers"]["Content-Length"]) == len(seen["body"])


def _rsa() -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def test_google_service_account_token_is_fetched_once_and_used_as_bearer(manager: CredentialManager,
                                                                        server: RecordingServer,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pem, public = _rsa()
    token_http = requests.Session()
    token_http.mount("https://", ToLocal(server.url))
    cache = CodeTokenCache(lambda: token_http)
    monkeypatch.setattr(builtin, "_tokens", cache)
    server.answers["/token"] = (200, {"access_token": "ya29.local", "expires_in": 3599, "token_type": "Bearer"})
    manager.create_connection(TENANT, "googleApi", "gsa", {"email": "sa@p.iam.gserviceaccount.com", "httpNode": True,
                                                           "privateKey": pem, "scopes": "s1, s2"})
    with manager.session(TENANT, "gsa") as http:
        for _ in range(3):
            http.get(f"{server.url}/drive/v3/files").raise_for_status()
    token_posts = [s for s in server.seen if s["path"] == "/token"]
    api_calls = [s for s in server.seen if s["path"] == "/drive/v3/files"]
    assert len(token_posts) == 1 and cache.fetches == 1
    assert all(c["headers"]["Authorization"] == "Bearer ya29.local" for c in api_calls) and len(api_calls) == 3
    form = parse_qs(token_posts[0]["body"].decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    header, claims, signature = form["assertion"][0].split(".")
    public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), f"{header}.{claims}".encode(),
                  padding.PKCS1v15(), hashes.SHA256())
    assert _b64url_json(claims)["scope"] == "s1 s2"


_STS_XML = """<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIATEMP</AccessKeyId><SecretAccessKey>tempsecret</SecretAccessKey><SessionToken>TEMPTOKEN</SessionToken>
<Expiration>2999-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"""


def test_aws_assume_role_calls_sts_once_and_signs_with_the_temporary_keys(manager: CredentialManager,
                                                                         server: RecordingServer,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sts_http = requests.Session()
    sts_http.mount("https://", ToLocal(server.url))
    cache = CodeTokenCache(lambda: sts_http)
    monkeypatch.setattr(builtin, "_tokens", cache)
    server.raw["/"] = _STS_XML
    manager.create_connection(TENANT, "awsAssumeRole", "r", {
        "region": "eu-west-1", "roleArn": "arn:aws:iam::123456789012:role/app", "externalId": "ext",
        "stsAccessKeyId": "AKIAMASTER", "stsSecretAccessKey": "MASTERSECRET"})
    with manager.session(TENANT, "r") as http:
        for _ in range(3):
            http.get(f"{server.url}/2015-03-31/functions").raise_for_status()
    sts = [s for s in server.seen if s["path"] == "/"]
    calls = [s for s in server.seen if s["path"] == "/2015-03-31/functions"]
    assert len(sts) == 1 and cache.fetches == 1 and len(calls) == 3
    form = parse_qs(sts[0]["body"].decode())
    assert form == {"Action": ["AssumeRole"], "Version": ["2011-06-15"],
                    "RoleArn": ["arn:aws:iam::123456789012:role/app"], "RoleSessionName": ["n8n-session"],
                    "ExternalId": ["ext"]}
    assert "Credential=AKIAMASTER/" in sts[0]["headers"]["authorization"]
    for call in calls:
        assert call["headers"]["x-amz-security-token"] == "TEMPTOKEN"
        assert "Credential=ASIATEMP/" in call["headers"]["authorization"]
    assert "MASTERSECRET" not in json.dumps([s["headers"] for s in server.seen])


def test_token_cache_single_flight_expiry_and_errors(server: RecordingServer) -> None:
    clock = [1000.0]
    http = requests.Session()
    cache = CodeTokenCache(lambda: http, clock=lambda: clock[0], leeway=60)
    server.answers["/t"] = (200, {"access_token": "A", "expires_in": 120})
    request = TokenRequest(url=f"{server.url}/t", body="grant_type=x", headers={}, purpose="t", cache_key="k")
    server.gate.clear()
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(cache.fetch(request))) for _ in range(8)]
    for t in threads:
        t.start()
    while not server.seen:
        threading.Event().wait(0.005)
    server.gate.set()
    for t in threads:
        t.join(10)
    assert [r["access_token"] for r in results] == ["A"] * 8 and cache.fetches == 1
    clock[0] += 59  # 60 s of life left: still fresh
    cache.fetch(request)
    assert cache.fetches == 1
    clock[0] += 2  # inside the leeway: fetched again
    cache.fetch(request)
    assert cache.fetches == 2
    server.answers["/t"] = (401, {"error": "invalid_client", "secret": "SECRET"})
    with pytest.raises(TokenFetchError, match=r"t: token request to 127\.0\.0\.1 answered 401") as err:
        cache.fetch(TokenRequest(url=f"{server.url}/t", body="client_secret=SECRET", headers={}, purpose="t"))
    assert "SECRET" not in str(err.value)


def test_every_implemented_type_is_a_catalog_type_with_code_authentication() -> None:
    catalog = {t["name"]: t for t in json.loads(catalog_path().read_text())}
    assert implemented() <= set(catalog)
    assert all(catalog[name].get("authenticate") == {} for name in implemented())


def test_token_requests_and_errors_do_not_show_secrets() -> None:
    request = TokenRequest(url="https://h/t?key=SECRET", body="client_secret=SECRET", headers={"X": "SECRET"},
                           auth=("id", "SECRET"), purpose="t")
    assert "SECRET" not in repr(request)
    with pytest.raises(Exception) as err:
        authenticate_options("customerIoApi", {"appApiKey": "SECRET"},
                             {"uri": "https://user:SECRET@x.example/?k=SECRET", "headers": {}}, Context(now=0))
    assert "SECRET" not in str(err.value)
    with pytest.raises(Exception) as err:
        authenticate_options("aws", {"accessKeyId": "a", "secretAccessKey": "SECRET", "region": "us-east-1"},
                             {"uri": "nota url SECRET", "headers": {}}, Context(now=0))
    assert "SECRET" not in str(err.value)


def test_trello_keeps_repeated_query_parameters_grouped(manager: CredentialManager, server: RecordingServer) -> None:
    manager.create_connection(TENANT, "trelloApi", "t", {"apiKey": "K", "apiToken": "T"})
    with manager.session(TENANT, "t") as http:
        http.get(f"{server.url}/1/members/me/boards", params=[("f", "a"), ("g", "1"), ("f", "b")])
    assert urlsplit(server.seen[-1]["path"]).query == "f=a&f=b&g=1&key=K&token=T"
