"""fluxnex-revenova against the sandbox configured like Salesforce: no expires_in, instance_url in every token
response, introspection, 401 with INVALID_SESSION_ID, refresh tokens not rotated (or not returned)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fluxnex import CredentialType, FluxnexError, Property, hookimpl
from fluxnex.api.connect import connect_oauth2
from fluxnex.api.manager import CredentialManager
from fluxnex.testing.api_server import ApiRequest, ApiServer
from fluxnex.testing.contract import check_credential_type
from fluxnex.testing.sandbox import SandboxProvider
from fluxnex_revenova import RevenovaApi, RevenovaOAuth2Api

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000005f0")
SANDBOXED = "revenovaSandboxedTest"
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@pytest.mark.parametrize("ct", [RevenovaApi, RevenovaOAuth2Api])
def test_contract(ct: type[CredentialType]) -> None:
    check_credential_type(ct)


@pytest.fixture
def org(sandbox_provider: SandboxProvider) -> Iterator[ApiServer]:
    """The org's instance: /services/data/ for a live token, else Salesforce's INVALID_SESSION_ID."""

    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        if not sandbox_provider.is_active(request.bearer or ""):
            return 401, INVALID_SESSION, {}
        return 200, [{"label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0"}], {}

    with ApiServer(answer) as api:
        yield api


@pytest.fixture
def salesforce(sandbox_provider: SandboxProvider, org: ApiServer, register_plugin: Callable[..., list[str]]
               ) -> SandboxProvider:
    sandbox_provider.configure(expires_in=None, session_seconds=900, rotation="off", client_auth="body",
                               extra_token_fields={"instance_url": org.url}, unauthorized_body=INVALID_SESSION)

    class Sandboxed(CredentialType):
        name = SANDBOXED
        display_name = "Revenova (sandbox endpoints)"
        extends = ["revenovaOAuth2Api"]
        properties = [
            Property(display_name="Authorization URL", name="authUrl", type="hidden",
                     default=sandbox_provider.authorize_url),
            Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden",
                     default=sandbox_provider.token_url),
            Property(display_name="Introspection URL", name="introspectUrl", type="hidden",
                     default=sandbox_provider.introspect_url),
        ]

    class Plugin:
        @hookimpl
        def register_credential_types(self, register: Any) -> None:
            register(Sandboxed)

    register_plugin(Plugin(), name="revenova-sandbox")
    return sandbox_provider


CLIENT = {"clientId": "sandbox-client", "clientSecret": "sandbox-secret"}


def connect(mgr: CredentialManager, browser: Callable[[str], None], **extra: Any) -> None:
    connect_oauth2(mgr, TENANT, SANDBOXED, "rv", {**CLIENT, **extra}, open_url=browser, timeout=10)


def test_hosts_by_environment() -> None:
    from fluxnex.contract.plugins import get_registry

    ct = get_registry().get("revenovaOAuth2Api")
    for env, host in [("production", "https://login.salesforce.com"), ("sandbox", "https://test.salesforce.com"),
                      ("custom", "https://acme.my.salesforce.com")]:
        data = ct.effective_data({**CLIENT, "environment": env, "myDomainUrl": "https://acme.my.salesforce.com/"})
        assert data["authUrl"] == host + "/services/oauth2/authorize"
        assert data["accessTokenUrl"] == host + "/services/oauth2/token"


def test_connect_uses_pkce_and_takes_expiry_from_introspection(
    fluxnex_manager: CredentialManager, salesforce: SandboxProvider, org: ApiServer,
    follow_redirects: Callable[[str], None],
) -> None:
    before = time.time()
    connect(fluxnex_manager, follow_redirects)
    assert salesforce.last_authorize_query["code_challenge_method"] == "S256"
    data = fluxnex_manager.get_connection(TENANT, "rv")
    assert data["oauthTokenData"]["instance_url"] == org.url and "expires_in" not in data["oauthTokenData"]
    info = fluxnex_manager.get_connection_info(TENANT, "rv")
    assert info.expires_at is not None and abs(info.expires_at.timestamp() - (before + 900)) < 5  # introspected
    assert any(r.path == "/introspect" for r in salesforce.requests)


def test_session_timeout_when_introspection_is_unreachable(
    fluxnex_manager: CredentialManager, salesforce: SandboxProvider, follow_redirects: Callable[[str], None],
    register_plugin: Callable[..., list[str]],
) -> None:
    salesforce.configure(session_seconds=900)
    before = time.time()
    connect(fluxnex_manager, follow_redirects, sessionTimeout=1800)
    info = fluxnex_manager.get_connection_info(TENANT, "rv")
    assert info.expires_at is not None and abs(info.expires_at.timestamp() - (before + 900)) < 5
    # introspection answers "inactive" for an unknown token: fall back to the configured session timeout
    fluxnex_manager.update_connection(TENANT, "rv", {**CLIENT, "sessionTimeout": 1800,
                                                     "oauthTokenData": {"access_token": "unknown",
                                                                        "instance_url": "https://x"}})
    info = fluxnex_manager.get_connection_info(TENANT, "rv")
    assert info.expires_at is not None and abs(info.expires_at.timestamp() - (time.time() + 1800)) < 5


@pytest.mark.parametrize("rotation", ["off", "omit", "strict"])
def test_refresh_keeps_instance_url_and_the_right_refresh_token(
    fluxnex_manager: CredentialManager, salesforce: SandboxProvider, follow_redirects: Callable[[str], None],
    rotation: str,
) -> None:
    connect(fluxnex_manager, follow_redirects)
    first = fluxnex_manager.get_connection(TENANT, "rv")["oauthTokenData"]
    salesforce.configure(rotation=rotation, extra_token_fields={})  # the refresh response has no instance_url
    fluxnex_manager.refresh_connection(TENANT, "rv")
    token = fluxnex_manager.get_connection(TENANT, "rv")["oauthTokenData"]
    assert token["instance_url"] == first["instance_url"]  # kept across the refresh (n8n #34916)
    assert (token["refresh_token"] != first["refresh_token"]) is (rotation == "strict")
    assert salesforce.is_active(token["refresh_token"])
    fluxnex_manager.refresh_connection(TENANT, "rv")


def test_invalid_session_id_triggers_refresh(
    fluxnex_manager: CredentialManager, salesforce: SandboxProvider, org: ApiServer,
    follow_redirects: Callable[[str], None],
) -> None:
    connect(fluxnex_manager, follow_redirects)
    data = fluxnex_manager.get_connection(TENANT, "rv")
    salesforce.expire_access_token(data["oauthTokenData"]["access_token"])
    session = fluxnex_manager.session(TENANT, "rv")
    response = session.get(org.url + "/services/data/", timeout=10)
    assert response.status_code == 200 and salesforce.token_requests.get("refresh_token") == 1
    ct = fluxnex_manager.credential_type(SANDBOXED)
    fresh = fluxnex_manager.get_connection(TENANT, "rv")
    ok, _ = fluxnex_manager.registry.hook.test_connection(credential_type=ct, data=fresh, http=session)
    assert ok


def test_token_without_instance_url_stores_nothing(
    fluxnex_manager: CredentialManager, salesforce: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    salesforce.configure(extra_token_fields={})
    with pytest.raises(FluxnexError, match="Salesforce token response has no instance_url"):
        connect(fluxnex_manager, follow_redirects)
    assert fluxnex_manager.list_connections(TENANT) == []


def test_revenova_api_sends_bearer_to_instance(fluxnex_manager: CredentialManager) -> None:
    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        return (200, [], {}) if request.bearer == "00Dxx!token" else (401, INVALID_SESSION, {})

    with ApiServer(answer) as api:
        fluxnex_manager.create_connection(TENANT, "revenovaApi", "static",
                                          {"instanceUrl": api.url, "accessToken": "00Dxx!token"})
        ct = fluxnex_manager.credential_type("revenovaApi")
        request = ct.resolve_test_request(ct.effective_data(fluxnex_manager.get_connection(TENANT, "static")))
        assert request is not None
        response = fluxnex_manager.session(TENANT, "static").get(request["baseURL"] + request["url"], timeout=10)
        assert response.status_code == 200 and api.received[-1].path == "/services/data/"
