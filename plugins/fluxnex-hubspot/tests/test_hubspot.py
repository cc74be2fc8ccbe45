"""fluxnex-hubspot against the sandbox configured like HubSpot (client id/secret in the form body, 1800 s tokens,
refresh tokens that do not rotate) and a local HubSpot-like API answering in HubSpot's legacy error shape."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from fluxnex import CredentialType, Property, RefreshError, hookimpl
from fluxnex.api.connect import connect_oauth2
from fluxnex.api.manager import CredentialManager
from fluxnex.testing.api_server import ApiRequest, ApiServer
from fluxnex.testing.contract import check_credential_type
from fluxnex.testing.sandbox import SandboxProvider
from fluxnex_hubspot import DEFAULT_SCOPES, HubspotApi, HubspotAppToken, HubspotOAuth2Api

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000b5")
APP_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
API_KEY = "legacy-hapikey-value-0123456789"


@pytest.mark.parametrize("ct", [HubspotOAuth2Api, HubspotAppToken, HubspotApi])
def test_contract(ct: type[CredentialType]) -> None:
    assert "test request resolvable" in check_credential_type(ct)


class HubSpotApi:
    """Account info for the app token; the legacy key is refused in HubSpot's legacy error shape."""

    def __init__(self) -> None:
        self.rate_limited = 0

    def __call__(self, request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        if self.rate_limited:
            self.rate_limited -= 1
            return 429, {"status": "error", "message": "You have reached your secondly limit."}, {"Retry-After": "1"}
        if request.path != "/account-info/v3/details":
            return 404, {"status": "error", "message": "not found"}, {}
        if request.bearer == APP_TOKEN:
            return 200, {"portalId": 62515, "accountType": "STANDARD"}, {}
        return 401, {"status": "error", "message": "The API key provided is invalid.", "correlationId": "c0"}, {}


@pytest.fixture
def hubspot() -> Iterator[tuple[ApiServer, HubSpotApi]]:
    behaviour = HubSpotApi()
    with ApiServer(behaviour) as api:
        yield api, behaviour


def _test(mgr: CredentialManager, name: str) -> tuple[bool, str]:
    row, data = mgr.read_connection(TENANT, name)
    ct = mgr.credential_type(row.type)
    result: tuple[bool, str] = mgr.registry.hook.test_connection(credential_type=ct, data=data,
                                                                 http=mgr.session(TENANT, name))
    return result


def test_app_token_is_a_bearer_token(fluxnex_manager: CredentialManager,
                                     hubspot: tuple[ApiServer, HubSpotApi]) -> None:
    api, _ = hubspot
    fluxnex_manager.create_connection(TENANT, "hubspotAppToken", "hs", {"appToken": APP_TOKEN, "apiBaseUrl": api.url})
    ok, message = _test(fluxnex_manager, "hs")
    assert ok and "62515" in message
    assert api.received[-1].headers["authorization"] == f"Bearer {APP_TOKEN}"


def test_legacy_api_key_warns_is_sent_as_hapikey_and_never_shown(
    fluxnex_manager: CredentialManager, hubspot: tuple[ApiServer, HubSpotApi], caplog: pytest.LogCaptureFixture
) -> None:
    api, _ = hubspot
    caplog.set_level(logging.DEBUG)
    with pytest.warns(DeprecationWarning, match="30 November 2022"):
        fluxnex_manager.create_connection(TENANT, "hubspotApi", "old", {"apiKey": API_KEY, "apiBaseUrl": api.url})
    ok, message = _test(fluxnex_manager, "old")
    assert not ok
    assert message.startswith("HubSpot error: The API key provided is invalid.")
    assert api.received[-1].query == {"hapikey": API_KEY}
    assert API_KEY not in message and API_KEY not in caplog.text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_unreachable_api_error_does_not_show_the_url(fluxnex_manager: CredentialManager) -> None:
    data = {"apiKey": API_KEY, "apiBaseUrl": "http://127.0.0.1:9"}
    fluxnex_manager.create_connection(TENANT, "hubspotApi", "old", data)
    ok, message = _test(fluxnex_manager, "old")
    assert not ok and "unreachable" in message and API_KEY not in message


def test_429_is_retried_after_retry_after(fluxnex_manager: CredentialManager,
                                         hubspot: tuple[ApiServer, HubSpotApi]) -> None:
    api, behaviour = hubspot
    behaviour.rate_limited = 1
    fluxnex_manager.create_connection(TENANT, "hubspotAppToken", "hs", {"appToken": APP_TOKEN, "apiBaseUrl": api.url})
    started = time.monotonic()
    ok, _ = _test(fluxnex_manager, "hs")
    assert ok and len(api.received) == 2 and time.monotonic() - started >= 0.9


@pytest.fixture
def like_hubspot(sandbox_provider: SandboxProvider, register_plugin: Callable[..., list[str]]) -> SandboxProvider:
    """The sandbox configured like HubSpot's OAuth server, and a type extending hubspotOAuth2Api aimed at it."""
    sandbox_provider.configure(client_auth="body", expires_in=1800, rotation="off")

    class SandboxedHubSpot(CredentialType):
        name = "hubspotSandboxedTest"
        display_name = "HubSpot (sandbox endpoints)"
        extends = ["hubspotOAuth2Api"]
        properties = [
            Property(display_name="Authorization URL", name="authUrl", type="hidden",
                     default=sandbox_provider.authorize_url),
            Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden",
                     default=sandbox_provider.token_url),
        ]

    class Plugin:
        @hookimpl
        def register_credential_types(self, register: Any) -> None:
            register(SandboxedHubSpot)

    register_plugin(Plugin(), name="hubspot-sandbox")
    return sandbox_provider


def test_oauth2_connect_and_refresh_with_body_client_auth(
    fluxnex_manager: CredentialManager, like_hubspot: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    seen: list[str] = []

    def browser(url: str) -> None:
        seen.append(url)
        follow_redirects(url)

    before = time.time()
    client = {"clientId": "sandbox-client", "clientSecret": "sandbox-secret"}
    info = connect_oauth2(fluxnex_manager, TENANT, "hubspotSandboxedTest", "hs", client, open_url=browser, timeout=10)
    assert info.expires_at is not None and abs(info.expires_at.timestamp() - (before + 1800)) < 30
    assert like_hubspot.last_authorize_query["scope"] == DEFAULT_SCOPES
    first = fluxnex_manager.get_connection(TENANT, "hs")["oauthTokenData"]
    fluxnex_manager.refresh_connection(TENANT, "hs")
    second = fluxnex_manager.get_connection(TENANT, "hs")["oauthTokenData"]
    assert second["access_token"] != first["access_token"] and second["refresh_token"] == first["refresh_token"]
    token_calls = [r for r in like_hubspot.requests if r.path == "/token"]
    assert [r.client_auth for r in token_calls] == ["body", "body"]
    assert all("client_secret" not in r.query_keys for r in token_calls)
    assert "sandbox-secret" not in seen[0]


def test_refresh_error_in_hubspot_legacy_shape_names_hubspot(fluxnex_manager: CredentialManager) -> None:
    def token_endpoint(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        return 400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
                     "correlationId": "5f3"}, {}

    with ApiServer(token_endpoint) as api:
        registry = fluxnex_manager.registry

        class Pointed(CredentialType):
            name = "hubspotLegacyErrorTest"
            display_name = "HubSpot (legacy error endpoint)"
            extends = ["hubspotOAuth2Api"]
            properties = [Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden",
                                   default=api.url + "/oauth/v1/token")]

        from fluxnex.contract.plugins import PluginInfo

        registry.add([Pointed], PluginInfo("legacy-error-test", "test", "0"))
        data = {"clientId": "id", "clientSecret": "shh-secret", "oauthTokenData": {"access_token": "a",
                                                                                 "refresh_token": "r-token-1"}}
        with pytest.raises(RefreshError) as exc:
            registry.hook.refresh_token(credential_type=registry.get("hubspotLegacyErrorTest"), data=data,
                                        http=requests.Session())
    assert "HubSpot BAD_REFRESH_TOKEN: missing or unknown refresh token" in str(exc.value)
    assert "invalid_grant" in str(exc.value) and exc.value.transient is False
    assert "shh-secret" not in str(exc.value) and "r-token-1" not in str(exc.value)


def test_refresh_hook_answers_only_for_oauth2_data(fluxnex_manager: CredentialManager) -> None:
    ct = fluxnex_manager.credential_type("hubspotApi")
    assert fluxnex_manager.registry.hook.refresh_token(credential_type=ct, data={"apiKey": "k"}, http=None) is None
