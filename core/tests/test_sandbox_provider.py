"""The sandbox OAuth2 provider, driven over real HTTP with requests."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fluxnex.testing.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxProvider

BASIC = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider() as provider:
        yield provider


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(sandbox: SandboxProvider, **params: str) -> dict[str, list[str]]:
    query = {"response_type": "code", "client_id": DEFAULT_CLIENT_ID, "redirect_uri": REDIRECT,
             "state": "st4te", **params}
    response = requests.get(sandbox.authorize_url, params=query, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def token(sandbox: SandboxProvider, auth: Any = BASIC, **form: str) -> requests.Response:
    return requests.post(sandbox.token_url, data=form, auth=auth, timeout=5)


def refresh(sandbox: SandboxProvider, refresh_token: str) -> requests.Response:
    return token(sandbox, grant_type="refresh_token", refresh_token=refresh_token)


def test_lifecycle_urls_and_prompt_stop_while_a_request_hangs() -> None:
    provider = SandboxProvider(hang_seconds=30)
    with pytest.raises(RuntimeError):
        _ = provider.url
    provider.start()
    assert provider.url.startswith("http://127.0.0.1:")
    assert provider.token_url == provider.url + "/token"
    provider.fail_always("hang")
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            token(provider, grant_type="client_credentials")
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.3)
    url = provider.url
    started = time.monotonic()
    provider.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/api/me", timeout=1)


def test_authorize_redirects_with_code_state_and_extra_params(sandbox: SandboxProvider) -> None:
    sandbox.configure(extra_callback_params={"realmId": "123"})
    params = authorize(sandbox, scope="a b")
    assert params["state"] == ["st4te"]
    assert params["realmId"] == ["123"]
    assert len(params["code"][0]) > 20
    assert sandbox.last_authorize_query["scope"] == "a b"


def test_authorize_deny_and_bad_requests(sandbox: SandboxProvider) -> None:
    sandbox.behaviour.deny = True
    params = authorize(sandbox)
    assert params == {"error": ["access_denied"], "state": ["st4te"], "iss": [sandbox.url]}  # RFC 9207: errors too
    sandbox.behaviour.deny = False
    plain = authorize(sandbox, code_challenge="x", code_challenge_method="plain")
    assert plain["error"] == ["invalid_request"]
    response = requests.get(sandbox.authorize_url, params={"client_id": "nobody", "redirect_uri": REDIRECT},
                            allow_redirects=False, timeout=5)
    assert response.status_code == 400


def test_code_exchange_with_pkce_is_one_time_and_a_replay_revokes(sandbox: SandboxProvider) -> None:
    verifier = "v" * 50
    code = authorize(sandbox, code_challenge=challenge_of(verifier), code_challenge_method="S256")["code"][0]
    bad = token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                code_verifier="w" * 50)
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")
    wrong_uri = token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT + "x",
                      code_verifier=verifier)
    assert wrong_uri.json()["error"] == "invalid_grant"
    good = token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                 code_verifier=verifier)
    assert good.status_code == 200
    body = good.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert good.headers["Cache-Control"] == "no-store"
    assert sandbox.is_active(body["access_token"]) and sandbox.is_active(body["refresh_token"])
    replay = token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                   code_verifier=verifier)
    assert replay.json()["error"] == "invalid_grant"
    assert not sandbox.is_active(body["access_token"])
    assert not sandbox.is_active(body["refresh_token"])


def test_code_without_challenge_rejects_a_verifier(sandbox: SandboxProvider) -> None:
    code = authorize(sandbox)["code"][0]
    response = token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                     code_verifier="v" * 50)
    assert response.json()["error"] == "invalid_grant"


def test_strict_rotation_and_reuse_detection_revokes_the_family(sandbox: SandboxProvider) -> None:
    first = sandbox.issue_tokens(scope="read")
    assert first["scope"] == "read"
    second = refresh(sandbox, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert not sandbox.is_active(first["refresh_token"])
    reuse = refresh(sandbox, first["refresh_token"])
    assert (reuse.status_code, reuse.json()["error"]) == (400, "invalid_grant")
    assert "reuse" in reuse.json()["error_description"]
    assert not sandbox.is_active(second["refresh_token"])
    assert not sandbox.is_active(second["access_token"])
    assert refresh(sandbox, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert sandbox.token_requests == {"refresh_token": 3}
    assert sandbox.token_requests_for(first["refresh_token"]) == 2
    assert sandbox.token_requests_for(second["refresh_token"]) == 1


def test_rotation_off_and_omitted(sandbox: SandboxProvider) -> None:
    tokens = sandbox.issue_tokens()
    sandbox.configure(rotation="off")
    assert refresh(sandbox, tokens["refresh_token"]).json()["refresh_token"] == tokens["refresh_token"]
    sandbox.configure(rotation="omit")
    body = refresh(sandbox, tokens["refresh_token"]).json()
    assert "refresh_token" not in body and body["access_token"]
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_concurrent_reuse_lets_exactly_one_refresh_win(sandbox: SandboxProvider) -> None:
    tokens = sandbox.issue_tokens()
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def go() -> None:
        barrier.wait()
        statuses.append(refresh(sandbox, tokens["refresh_token"]).status_code)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 400, 400, 400, 400, 400]
    assert sandbox.token_requests_for(tokens["refresh_token"]) == 6


def test_client_credentials_has_no_refresh_token(sandbox: SandboxProvider) -> None:
    body = token(sandbox, grant_type="client_credentials", scope="s1 s2").json()
    assert body["scope"] == "s1 s2" and "refresh_token" not in body
    assert token(sandbox, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_client_authentication_styles(sandbox: SandboxProvider) -> None:
    body_creds = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    assert token(sandbox, auth=None, grant_type="client_credentials", **body_creds).status_code == 200
    assert token(sandbox, grant_type="client_credentials").status_code == 200
    both = token(sandbox, grant_type="client_credentials", **body_creds)
    assert (both.status_code, both.json()["error"]) == (401, "invalid_client")
    sandbox.configure(client_auth="header")
    assert token(sandbox, auth=None, grant_type="client_credentials", **body_creds).status_code == 401
    assert token(sandbox, grant_type="client_credentials").status_code == 200
    sandbox.configure(client_auth="body")
    assert token(sandbox, grant_type="client_credentials").status_code == 401
    assert token(sandbox, auth=None, grant_type="client_credentials", **body_creds).status_code == 200
    wrong = token(sandbox, auth=(DEFAULT_CLIENT_ID, "nope"), grant_type="client_credentials")
    assert wrong.status_code == 401
    assert [r.client_auth for r in sandbox.requests] == ["body", "header", "both", "body", "header", "header",
                                                         "body", "header"]


def test_credentials_in_the_query_string_are_always_rejected(sandbox: SandboxProvider) -> None:
    response = requests.post(sandbox.token_url, params={"client_secret": DEFAULT_CLIENT_SECRET},
                             data={"grant_type": "client_credentials"}, auth=BASIC, timeout=5)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert sandbox.requests[-1].query_keys == ("client_secret",)


def test_public_client_needs_no_secret(sandbox: SandboxProvider) -> None:
    sandbox.register_client("public-app", None)
    response = token(sandbox, auth=None, grant_type="client_credentials", client_id="public-app")
    assert response.status_code == 200
    assert token(sandbox, auth=None, grant_type="client_credentials", client_id="other").status_code == 401


@pytest.mark.parametrize(
    ("mode", "status", "check"),
    [
        ("500", 500, lambda r: "Internal" in r.text),
        ("429", 429, lambda r: r.headers["Retry-After"] == "7"),
        ("malformed", 200, lambda r: r.text.startswith('{"access_token"') and not r.text.endswith("}")),
        ("missing_access_token", 200, lambda r: "access_token" not in r.json()),
        ("invalid_client", 401, lambda r: r.json()["error"] == "invalid_client"),
        ("invalid_grant", 400, lambda r: r.json()["error"] == "invalid_grant"),
    ],
)
def test_fail_modes_for_the_next_requests(
    sandbox: SandboxProvider, mode: str, status: int, check: Any
) -> None:
    sandbox.configure(retry_after=7)
    sandbox.fail_next(mode, count=2)
    for _ in range(2):
        response = token(sandbox, grant_type="client_credentials")
        assert response.status_code == status
        assert check(response)
    assert token(sandbox, grant_type="client_credentials").status_code == 200
    assert sandbox.token_requests == {"client_credentials": 3}


def test_failures_do_not_consume_the_refresh_token(sandbox: SandboxProvider) -> None:
    tokens = sandbox.issue_tokens()
    sandbox.fail_always("500")
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 500
    sandbox.clear_failures()
    assert refresh(sandbox, tokens["refresh_token"]).status_code == 200


def test_unknown_behaviour_values_are_rejected(sandbox: SandboxProvider) -> None:
    with pytest.raises(ValueError):
        sandbox.configure(fail="explode")
    with pytest.raises(ValueError):
        SandboxProvider(client_auth="query")


def test_latency_delays_token_answers(sandbox: SandboxProvider) -> None:
    sandbox.configure(latency=0.4)
    started = time.monotonic()
    assert token(sandbox, grant_type="client_credentials").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_hang_exceeds_a_client_timeout(sandbox: SandboxProvider) -> None:
    sandbox.fail_next("hang")
    with pytest.raises(requests.Timeout):
        requests.post(sandbox.token_url, data={"grant_type": "client_credentials"}, auth=BASIC, timeout=0.3)


def test_expiry_extra_fields_and_introspection(sandbox: SandboxProvider) -> None:
    sandbox.configure(expires_in=None, extra_token_fields={"instance_url": "https://x.my.salesforce.com"})
    body = token(sandbox, grant_type="client_credentials").json()
    assert "expires_in" not in body and body["instance_url"] == "https://x.my.salesforce.com"
    info = requests.post(sandbox.introspect_url, data={"token": body["access_token"]}, auth=BASIC,
                         timeout=5).json()
    assert info["active"] is True and info["exp"] > time.time() + 7000
    sandbox.expire_access_token(body["access_token"])
    info = requests.post(sandbox.introspect_url, data={"token": body["access_token"]}, auth=BASIC,
                         timeout=5).json()
    assert info == {"active": False}
    assert requests.post(sandbox.introspect_url, data={"token": "x"}, timeout=5).status_code == 401


def test_revoke_by_form_and_by_json_revokes_the_family(sandbox: SandboxProvider) -> None:
    one, two = sandbox.issue_tokens(), sandbox.issue_tokens()
    response = requests.post(sandbox.revoke_url, data={"token": one["refresh_token"]}, auth=BASIC, timeout=5)
    assert response.status_code == 200
    assert not sandbox.is_active(one["access_token"])
    assert sandbox.is_active(two["access_token"])
    response = requests.post(sandbox.revoke_url, json={"token": two["access_token"]}, auth=BASIC, timeout=5)
    assert response.status_code == 200
    assert not sandbox.is_active(two["refresh_token"])
    unknown = requests.post(sandbox.revoke_url, data={"token": "unknown"}, auth=BASIC, timeout=5)
    assert unknown.status_code == 200


def test_protected_resource(sandbox: SandboxProvider) -> None:
    tokens = sandbox.issue_tokens(scope="api")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    ok = requests.get(sandbox.api_url, headers=bearer, timeout=5)
    assert ok.status_code == 200 and ok.json() == {"client_id": DEFAULT_CLIENT_ID, "scope": "api"}
    refresh_as_bearer = requests.get(sandbox.api_url, timeout=5,
                                     headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refresh_as_bearer.status_code == 401
    sandbox.configure(unauthorized_body=[{"errorCode": "INVALID_SESSION_ID",
                                          "message": "Session expired or invalid"}])
    sandbox.expire_access_token(tokens["access_token"])
    expired = requests.get(sandbox.api_url, headers={"Authorization": f"Bearer {tokens['access_token']}"},
                           timeout=5)
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert requests.get(sandbox.api_url, timeout=5).status_code == 401
    assert sandbox.api_requests == 4


def test_request_log_never_holds_secret_values(sandbox: SandboxProvider) -> None:
    tokens = sandbox.issue_tokens()
    refresh(sandbox, tokens["refresh_token"])
    token(sandbox, auth=None, grant_type="client_credentials", client_id=DEFAULT_CLIENT_ID,
          client_secret=DEFAULT_CLIENT_SECRET)
    dumped = repr(sandbox.requests) + repr(sandbox)
    assert tokens["refresh_token"] not in dumped and DEFAULT_CLIENT_SECRET not in dumped
    assert sandbox.requests[0].form_keys == ("grant_type", "refresh_token")
    sandbox.reset_counters()
    assert sandbox.requests == [] and sandbox.token_requests == {}


def test_oauth2_data_points_at_the_sandbox(sandbox: SandboxProvider) -> None:
    data = sandbox.oauth2_data(scope="x")
    assert data["accessTokenUrl"] == sandbox.token_url and data["authUrl"] == sandbox.authorize_url
    assert data["clientId"] == DEFAULT_CLIENT_ID and data["scope"] == "x"


def test_keep_alive_answers_on_one_connection_without_nagle_stalls_and_stop_cuts_it() -> None:
    """``keep_alive=True`` speaks HTTP/1.1 as real token endpoints do: one TCP connection for many requests,
    with Nagle off (a kept-alive answer written in two parts waited 40 ms for the delayed ACK); ``stop``
    closes a connection the client still holds open."""
    import socket

    with SandboxProvider(keep_alive=True) as provider:
        host, port = urlsplit(provider.url).hostname, urlsplit(provider.url).port
        conn = socket.create_connection((host, port), timeout=5)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        for _ in range(10):
            conn.sendall(b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n")
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = reader.read(int(headers["content-length"]))
            assert status.startswith(b"HTTP/1.1 200") and b"token_endpoint" in body
        server = provider._server
        assert server is not None and len(server._open) == 1  # all ten on the one connection
        # headers and body go out in two writes: with Nagle on, each body waited for the client's delayed ACK
        assert all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in server._open)
        assert requests.Session().get(provider.url + "/.well-known/openid-configuration", timeout=5).ok
    conn.settimeout(5)
    assert reader.read() == b""  # stop() cut the open connection instead of leaving its thread blocked
    conn.close()


def test_without_keep_alive_each_answer_closes_its_connection(sandbox: SandboxProvider) -> None:
    response = requests.get(sandbox.url + "/.well-known/openid-configuration", timeout=5)
    assert response.raw.version == 10 and response.headers.get("Connection", "close").lower() == "close"
