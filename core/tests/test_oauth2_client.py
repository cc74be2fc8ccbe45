"""The OAuth2 client against the real sandbox provider over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
from fluxnex.contract.errors import ConfigurationError, RefreshError
from fluxnex.lifecycle import oauth2
from fluxnex.testing.sandbox import DEFAULT_CLIENT_SECRET, SandboxProvider

REDIRECT = "http://127.0.0.1:9/oauth2/callback"


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider() as provider:
        yield provider


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def connect(sandbox: SandboxProvider, http: requests.Session, data: dict[str, Any]) -> dict[str, Any]:
    """Run the browser part of the authorization code flow by following the redirect, then exchange."""
    request = oauth2.authorization_url(data, REDIRECT)
    response = http.get(request.url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    callback = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    assert callback["state"] == request.state
    return oauth2.exchange_code(
        data,
        code=callback["code"],
        redirect_uri=REDIRECT,
        code_verifier=request.code_verifier,
        http=http,
        callback_params=callback,
    )


def connected(sandbox: SandboxProvider, **overrides: Any) -> dict[str, Any]:
    """Data for a connection minted directly by the sandbox."""
    tokens = sandbox.issue_tokens()
    return sandbox.oauth2_data(oauthTokenData=tokens, **overrides)


def test_authorization_url_has_pkce_state_scopes_and_extra_parameters(sandbox: SandboxProvider) -> None:
    data = sandbox.oauth2_data(
        scope="com.intuit.quickbooks.accounting, openid  email",
        authQueryParameters="access_type=offline&prompt=consent",
        authUrl=sandbox.authorize_url + "?tenant=t1",
    )
    first = oauth2.authorization_url(data, REDIRECT)
    second = oauth2.authorization_url(data, REDIRECT)
    query = parse_qs(urlsplit(first.url).query)
    assert query["scope"] == ["com.intuit.quickbooks.accounting openid email"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [first.state] and first.state != second.state
    assert first.code_verifier != second.code_verifier and 43 <= len(first.code_verifier) <= 128
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert query["tenant"] == ["t1"] and query["redirect_uri"] == [REDIRECT]
    assert "client_secret" not in query and DEFAULT_CLIENT_SECRET not in first.url
    assert first.code_verifier not in repr(first)


def test_authorization_url_refuses_plain_http_to_remote_hosts() -> None:
    data = {"authUrl": "http://login.example.com/authorize", "clientId": "c"}
    with pytest.raises(ConfigurationError, match="https"):
        oauth2.authorization_url(data, REDIRECT)
    with pytest.raises(ConfigurationError):
        oauth2.authorization_url({"clientId": "c"}, REDIRECT)
    assert oauth2.authorization_url({"authUrl": "http://localhost:1/a", "clientId": "c"}, REDIRECT).url


def test_authorization_code_flow_with_pkce(sandbox: SandboxProvider, http: requests.Session) -> None:
    sandbox.configure(
        extra_callback_params={"realmId": "123"}, extra_token_fields={"x_refresh_token_expires_in": 8726400}
    )
    before = time.time()
    data = connect(sandbox, http, sandbox.oauth2_data(scope="api"))
    token_data = data["oauthTokenData"]
    assert token_data["callbackQueryString"] == {"realmId": "123"}
    assert token_data["x_refresh_token_expires_in"] == 8726400
    assert token_data["scope"] == "api" and token_data["refresh_token"]
    assert before + 3600 <= token_data["expires_at"] <= time.time() + 3600
    assert oauth2.token_expires_at(data) == token_data["expires_at"]
    me = http.get(
        sandbox.api_url, headers={"Authorization": f"Bearer {token_data['access_token']}"}, timeout=5
    )
    assert me.status_code == 200
    assert sandbox.last_authorize_query["code_challenge_method"] == "S256"


def test_public_client_uses_pkce_without_a_secret(sandbox: SandboxProvider, http: requests.Session) -> None:
    sandbox.register_client("mobile-app", None)
    data = connect(
        sandbox, http, sandbox.oauth2_data(grantType="pkce", clientId="mobile-app", clientSecret="")
    )
    assert data["oauthTokenData"]["access_token"]
    assert sandbox.requests[-1].client_auth == "none"
    assert "client_id" in sandbox.requests[-1].form_keys


def test_wrong_verifier_is_a_permanent_failure(sandbox: SandboxProvider, http: requests.Session) -> None:
    data = sandbox.oauth2_data()
    request = oauth2.authorization_url(data, REDIRECT)
    location = http.get(request.url, allow_redirects=False, timeout=5).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    with pytest.raises(RefreshError) as caught:
        oauth2.exchange_code(data, code=code, redirect_uri=REDIRECT, code_verifier="x" * 64, http=http)
    assert caught.value.transient is False
    assert "invalid_grant" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert code not in str(caught.value)


def test_client_credentials_with_basic_and_body_authentication(
    sandbox: SandboxProvider, http: requests.Session
) -> None:
    sandbox.configure(client_auth="header")
    data = oauth2.client_credentials(
        sandbox.oauth2_data(grantType="clientCredentials", scope="a,b"), http=http
    )
    assert data["oauthTokenData"]["scope"] == "a b"
    assert "refresh_token" not in data["oauthTokenData"]
    sandbox.configure(client_auth="body")
    body_data = sandbox.oauth2_data(grantType="clientCredentials", authentication="body")
    assert oauth2.client_credentials(body_data, http=http)["oauthTokenData"]["access_token"]
    assert [r.client_auth for r in sandbox.requests] == ["header", "body"]
    with pytest.raises(RefreshError, match="invalid_client") as caught:
        oauth2.client_credentials(sandbox.oauth2_data(grantType="clientCredentials"), http=http)
    assert caught.value.transient is False
    assert DEFAULT_CLIENT_SECRET not in str(caught.value)


def test_client_secret_never_travels_in_a_query_string(
    sandbox: SandboxProvider, http: requests.Session
) -> None:
    for authentication in ("header", "body"):
        data = connect(sandbox, http, sandbox.oauth2_data(authentication=authentication))
        data = oauth2.refresh(data, http=http)
        oauth2.client_credentials(data, http=http)
    token_requests = [r for r in sandbox.requests if r.path == "/token"]
    assert len(token_requests) == 6
    assert all(r.query_keys == () for r in token_requests)
    assert {r.client_auth for r in token_requests} == {"header", "body"}
    authorize = [r for r in sandbox.requests if r.path == "/authorize"]
    assert all("client_secret" not in r.query_keys for r in authorize)


def test_refresh_with_rotation(sandbox: SandboxProvider, http: requests.Session) -> None:
    data = connected(sandbox)
    old = data["oauthTokenData"]
    new = oauth2.refresh(data, http=http)
    assert new["oauthTokenData"]["refresh_token"] != old["refresh_token"]
    assert new["oauthTokenData"]["access_token"] != old["access_token"]
    assert new["clientId"] == data["clientId"]
    assert sandbox.token_requests_for(old["refresh_token"]) == 1
    assert not sandbox.is_active(old["refresh_token"])
    assert oauth2.refresh(new, http=http)["oauthTokenData"]["access_token"]


def test_refresh_without_refresh_token_in_response_keeps_the_old_one(
    sandbox: SandboxProvider, http: requests.Session
) -> None:
    sandbox.configure(rotation="omit")
    data = connected(sandbox)
    new = oauth2.refresh(data, http=http)
    assert new["oauthTokenData"]["refresh_token"] == data["oauthTokenData"]["refresh_token"]
    assert new["oauthTokenData"]["access_token"] != data["oauthTokenData"]["access_token"]


def test_fields_the_refresh_response_omits_are_kept(sandbox: SandboxProvider, http: requests.Session) -> None:
    sandbox.configure(expires_in=None, extra_token_fields={"instance_url": "https://acme.my.salesforce.com"})
    data = connect(sandbox, http, sandbox.oauth2_data())
    assert "expires_at" not in data["oauthTokenData"]
    sandbox.configure(extra_token_fields={})
    data["oauthTokenData"]["callbackQueryString"] = {"realmId": "9"}
    new = oauth2.refresh(data, http=http)
    assert new["oauthTokenData"]["instance_url"] == "https://acme.my.salesforce.com"
    assert new["oauthTokenData"]["callbackQueryString"] == {"realmId": "9"}
    assert oauth2.token_expires_at(new) is None
    assert oauth2.needs_refresh(new, 300) is False


def test_expiry_is_not_carried_over_when_the_new_response_omits_it(
    sandbox: SandboxProvider, http: requests.Session
) -> None:
    data = connected(sandbox)
    data = oauth2.refresh(data, http=http)
    assert oauth2.token_expires_at(data) is not None
    sandbox.configure(expires_in=None)
    data = oauth2.refresh(data, http=http)
    assert "expires_at" not in data["oauthTokenData"] and "expires_in" not in data["oauthTokenData"]


def test_reuse_of_a_rotated_refresh_token_revokes_the_family(
    sandbox: SandboxProvider, http: requests.Session
) -> None:
    data = connected(sandbox)
    new = oauth2.refresh(data, http=http)
    with pytest.raises(RefreshError, match="invalid_grant") as caught:
        oauth2.refresh(data, http=http)
    assert caught.value.transient is False
    assert data["oauthTokenData"]["refresh_token"] not in str(caught.value)
    with pytest.raises(RefreshError, match="invalid_grant"):
        oauth2.refresh(new, http=http)
    assert not sandbox.is_active(new["oauthTokenData"]["access_token"])


@pytest.mark.parametrize(
    ("mode", "transient", "retry_after", "words"),
    [
        ("500", True, None, "HTTP 500"),
        ("429", True, 7.0, "HTTP 429"),
        ("malformed", True, None, "not a JSON object"),
        ("missing_access_token", True, None, "no access_token"),
        ("invalid_client", False, None, "invalid_client"),
        ("invalid_grant", False, None, "invalid_grant"),
    ],
)
def test_failures_are_classified(
    sandbox: SandboxProvider,
    http: requests.Session,
    mode: str,
    transient: bool,
    retry_after: float | None,
    words: str,
) -> None:
    data = connected(sandbox)
    sandbox.configure(retry_after=7)
    sandbox.fail_next(mode)
    with pytest.raises(RefreshError) as caught:
        oauth2.refresh(data, http=http)
    error = caught.value
    assert (error.transient, error.retry_after) == (transient, retry_after)
    assert words in str(error) and f"127.0.0.1:{urlsplit(sandbox.url).port}" in str(error)
    assert data["oauthTokenData"]["refresh_token"] not in str(error) and DEFAULT_CLIENT_SECRET not in str(
        error
    )
    assert oauth2.refresh(data, http=http)["oauthTokenData"]["access_token"]


def test_timeouts_are_enforced_and_transient(sandbox: SandboxProvider, http: requests.Session) -> None:
    data = connected(sandbox)
    sandbox.fail_next("hang")
    started = time.monotonic()
    with pytest.raises(RefreshError, match="timed out") as caught:
        oauth2.refresh(data, http=http, timeout=0.3)
    assert time.monotonic() - started < 3
    assert caught.value.transient is True and caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_connection_errors_are_transient(http: requests.Session) -> None:
    with SandboxProvider() as provider:
        data = connected(provider)
    with pytest.raises(RefreshError, match="could not connect") as caught:
        oauth2.refresh(data, http=http, timeout=2)
    assert caught.value.transient is True


def test_unusable_data_fails_permanently_without_http(
    sandbox: SandboxProvider, http: requests.Session
) -> None:
    with pytest.raises(RefreshError, match="no refresh_token") as caught:
        oauth2.refresh(sandbox.oauth2_data(), http=http)
    assert caught.value.transient is False
    remote = connected(sandbox, accessTokenUrl="http://auth.example.com/token")
    with pytest.raises(RefreshError, match="https") as caught:
        oauth2.refresh(remote, http=http)
    assert caught.value.transient is False
    assert sandbox.token_requests == {}


def test_client_credentials_data_refreshes_by_fetching_a_new_token(
    sandbox: SandboxProvider, http: requests.Session
) -> None:
    data = oauth2.client_credentials(sandbox.oauth2_data(grantType="clientCredentials"), http=http)
    new = oauth2.refresh(data, http=http)
    assert new["oauthTokenData"]["access_token"] != data["oauthTokenData"]["access_token"]
    assert sandbox.token_requests == {"client_credentials": 2}


def test_needs_refresh_and_expiry() -> None:
    data: dict[str, Any] = {"oauthTokenData": {"access_token": "a", "expires_at": 1000.0}}
    assert oauth2.token_expires_at(data) == 1000.0
    assert oauth2.needs_refresh(data, 60, now=900) is False
    assert oauth2.needs_refresh(data, 60, now=941) is True
    assert oauth2.needs_refresh({"oauthTokenData": {"access_token": "a"}}, 60) is False
    assert oauth2.needs_refresh({}, 60) is True
    assert oauth2.token_expires_at({"oauthTokenData": '{"access_token": "a", "expires_at": "12"}'}) == 12.0
    assert oauth2.token_expires_at({"oauthTokenData": {"expires_at": "soon"}}) is None


def test_a_legacy_status_message_error_is_named_and_permanent() -> None:
    """Some providers (HubSpot's legacy API) answer errors as {"status": ..., "message": ...}."""
    import requests as _requests
    from fluxnex.contract.errors import RefreshError as _RefreshError
    from fluxnex.lifecycle.oauth2 import exchange_code as _exchange_code
    from fluxnex.testing.api_server import ApiServer

    def answer(request):  # type: ignore[no-untyped-def]
        return 400, {"status": "BAD_AUTH_CODE", "message": "missing or unknown auth code"}, {}

    with ApiServer(answer) as api:
        data = {"clientId": "c", "clientSecret": "shh-secret", "accessTokenUrl": api.url + "/oauth/v1/token",
                "authentication": "body"}
        with _requests.Session() as http, pytest.raises(_RefreshError) as info:
            _exchange_code(data, code="the-code", redirect_uri="http://127.0.0.1/cb", code_verifier="v" * 43,
                           http=http)
    message = str(info.value)
    assert "BAD_AUTH_CODE" in message and "missing or unknown auth code" in message and "127.0.0.1" in message
    assert info.value.transient is False and "shh-secret" not in message and "the-code" not in message
