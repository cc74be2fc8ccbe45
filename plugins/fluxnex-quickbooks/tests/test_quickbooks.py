"""fluxnex-quickbooks against the sandbox provider configured like Intuit.

Intuit: client authentication HTTP Basic only, access tokens of 3600 s, a new refresh token on every refresh
(the old one is then refused), ``x_refresh_token_expires_in`` of 8726400 s (101 days) in every token response,
``realmId`` on the redirect, revocation by JSON ``{"token": ...}`` with Basic auth.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fluxnex import CredentialType, FluxnexError, Property, hookimpl
from fluxnex.api.connect import connect_oauth2
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.plugins import get_registry
from fluxnex.testing.api_server import ApiRequest, ApiServer
from fluxnex.testing.contract import check_credential_type
from fluxnex.testing.sandbox import SandboxProvider
from fluxnex_quickbooks import QuickBooksOAuth2Api, realm_id, refresh_token_expires_at, refresh_token_expiring

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000b")
REALM = "9130347596842384"
REFRESH_LIFETIME = 8726400
SANDBOXED = "quickBooksSandboxedTest"


@pytest.fixture
def intuit(sandbox_provider: SandboxProvider) -> SandboxProvider:
    """The sandbox behaving like Intuit's OAuth2 server."""
    sandbox_provider.configure(
        client_auth="header", expires_in=3600, rotation="strict",
        extra_token_fields={"x_refresh_token_expires_in": REFRESH_LIFETIME},
        extra_callback_params={"realmId": REALM},
    )
    return sandbox_provider


@pytest.fixture
def company_api(intuit: SandboxProvider) -> Iterator[ApiServer]:
    """QuickBooks' accounting API: CompanyInfo for REALM with a live token and Accept: application/json."""

    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        if not intuit.is_active(request.bearer or ""):
            return 401, {"fault": {"error": [{"message": "AuthenticationFailed"}], "type": "AUTHENTICATION"}}, {}
        if request.path != f"/v3/company/{REALM}/companyinfo/{REALM}":
            return 400, {"Fault": {"Error": [{"Message": "Invalid company"}]}}, {}
        if request.headers.get("accept") != "application/json":
            return 200, b"<IntuitResponse/>", {}
        return 200, {"CompanyInfo": {"CompanyName": "Sandbox Company_US_1", "Id": "1"}}, {}

    with ApiServer(answer) as api:
        yield api


@pytest.fixture(autouse=True)
def sandboxed_type(intuit: SandboxProvider, register_plugin: Callable[..., list[str]]) -> str:
    """``quickBooksOAuth2Api`` with its pinned hidden endpoints pointed at the sandbox (a type extending it)."""

    class SandboxedQuickBooks(CredentialType):
        name = SANDBOXED
        display_name = "QuickBooks (sandbox endpoints)"
        extends = ["quickBooksOAuth2Api"]
        properties = [
            Property(display_name="Authorization URL", name="authUrl", type="hidden", default=intuit.authorize_url),
            Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden", default=intuit.token_url),
            Property(display_name="Revoke URL", name="revokeUrl", type="hidden", default=intuit.revoke_url),
        ]

    class Plugin:
        @hookimpl
        def register_credential_types(self, register: Any) -> None:
            register(SandboxedQuickBooks)

    register_plugin(Plugin(), name="quickbooks-sandbox")
    return SANDBOXED


def settings(**extra: str) -> dict[str, str]:
    """The sandbox's client."""
    return {"clientId": "sandbox-client", "clientSecret": "sandbox-secret", "environment": "sandbox", **extra}


def connect(mgr: CredentialManager, sandbox: SandboxProvider, browser: Callable[[str], None], name: str = "qb",
            **extra: str) -> None:
    connect_oauth2(mgr, TENANT, SANDBOXED, name, settings(**extra), open_url=browser, timeout=10)


def test_contract() -> None:
    assert "hooks answer only for their own types" in check_credential_type(QuickBooksOAuth2Api)


def test_type_matches_intuit() -> None:
    ct = get_registry().get("quickBooksOAuth2Api")
    defaults = ct.defaults()
    assert defaults["authUrl"] == "https://appcenter.intuit.com/connect/oauth2"
    assert defaults["accessTokenUrl"] == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert defaults["revokeUrl"] == "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
    assert defaults["scope"] == "com.intuit.quickbooks.accounting"
    assert defaults["authentication"] == "header"
    assert ct.get_property("environment").option_values == ["production", "sandbox"]  # type: ignore[union-attr]
    assert get_registry().is_a("quickBooksOAuth2Api", "oAuth2Api")


def test_connect_keeps_realm_and_refresh_token_expiry(
    fluxnex_manager: CredentialManager, intuit: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    before = time.time()
    connect(fluxnex_manager, intuit, follow_redirects)
    data = fluxnex_manager.get_connection(TENANT, "qb")
    assert realm_id(data) == REALM
    expires = refresh_token_expires_at(data)
    assert expires is not None and before + REFRESH_LIFETIME <= expires <= time.time() + REFRESH_LIFETIME
    assert not refresh_token_expiring(data)
    assert refresh_token_expiring(data, now=expires - 13 * 86400)
    assert not refresh_token_expiring(data, now=expires - 15 * 86400)
    info = fluxnex_manager.get_connection_info(TENANT, "qb")
    assert info.expires_at is not None and abs(info.expires_at.timestamp() - (before + 3600)) < 30
    assert {r.client_auth for r in intuit.requests if r.path == "/token"} == {"header"}


def test_connect_without_realm_stores_nothing(
    fluxnex_manager: CredentialManager, intuit: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    intuit.configure(extra_callback_params={})
    with pytest.raises(FluxnexError, match=r"QuickBooks.*realmId.*nothing was stored"):
        connect(fluxnex_manager, intuit, follow_redirects)
    assert fluxnex_manager.list_connections(TENANT) == []


def test_refresh_stores_rotated_token_and_rolls_expiry(
    fluxnex_manager: CredentialManager, intuit: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    connect(fluxnex_manager, intuit, follow_redirects)
    first = fluxnex_manager.get_connection(TENANT, "qb")["oauthTokenData"]
    time.sleep(0.01)
    fluxnex_manager.refresh_connection(TENANT, "qb")
    second = fluxnex_manager.get_connection(TENANT, "qb")
    token = second["oauthTokenData"]
    assert token["refresh_token"] != first["refresh_token"]  # Intuit rotated it: the latest is stored
    assert token["refresh_token_expires_at"] > first["refresh_token_expires_at"]  # rolling lifetime
    assert realm_id(second) == REALM  # the realm survives refreshes
    assert not intuit.is_active(first["refresh_token"]) and intuit.is_active(token["refresh_token"])
    fluxnex_manager.refresh_connection(TENANT, "qb")  # uses the stored (rotated) token, so it works again
    assert intuit.token_requests_for(token["refresh_token"]) == 1


def test_test_connection_reads_company_info(
    fluxnex_manager: CredentialManager, intuit: SandboxProvider, company_api: ApiServer,
    follow_redirects: Callable[[str], None],
) -> None:
    connect(fluxnex_manager, intuit, follow_redirects, apiBaseUrl=company_api.url)
    registry = fluxnex_manager.registry
    ct = registry.get(SANDBOXED)
    data = fluxnex_manager.get_connection(TENANT, "qb")
    session = fluxnex_manager.session(TENANT, "qb")
    ok, message = registry.hook.test_connection(credential_type=ct, data=data, http=session)
    assert ok and "Sandbox Company_US_1" in message
    assert company_api.received[-1].headers["accept"] == "application/json"
    intuit.revoke(data["oauthTokenData"]["access_token"])
    ok, message = registry.hook.test_connection(credential_type=ct, data=data, http=session)
    assert not ok  # 401 -> refresh (refused: grant revoked) -> still not OK


def test_environment_selects_api_host() -> None:
    from fluxnex_quickbooks import api_base_url

    assert api_base_url({"environment": "sandbox"}) == "https://sandbox-quickbooks.api.intuit.com"
    assert api_base_url({"environment": "production"}) == "https://quickbooks.api.intuit.com"


def test_delete_with_revoke_revokes_at_intuit(
    fluxnex_manager: CredentialManager, intuit: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    connect(fluxnex_manager, intuit, follow_redirects)
    token = fluxnex_manager.get_connection(TENANT, "qb")["oauthTokenData"]
    assert fluxnex_manager.revoke_connection(TENANT, "qb") is True
    revoke = [r for r in intuit.requests if r.path == "/revoke"][-1]
    assert revoke.client_auth == "header" and revoke.form_keys == ("token",) and revoke.status == 200
    assert not intuit.is_active(token["refresh_token"]) and not intuit.is_active(token["access_token"])


def test_revoke_failure_is_a_clear_error(
    fluxnex_manager: CredentialManager, intuit: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    connect(fluxnex_manager, intuit, follow_redirects)
    fluxnex_manager.update_connection(TENANT, "qb", {**settings(), "clientSecret": "wrong-secret"})
    with pytest.raises(FluxnexError, match=r"QuickBooks revoke at 127\.0\.0\.1:\d+ answered HTTP 401") as exc:
        fluxnex_manager.revoke_connection(TENANT, "qb")
    assert "wrong-secret" not in str(exc.value)


def test_an_idle_connection_is_kept_alive_by_the_worker(
    fluxnex_manager: CredentialManager, intuit: SandboxProvider, follow_redirects: Callable[[str], None]
) -> None:
    import datetime as dt

    from fluxnex.lifecycle.refresher import RefreshWorker

    connect(fluxnex_manager, intuit, follow_redirects)
    before = fluxnex_manager.get_connection(TENANT, "qb")["oauthTokenData"]
    worker = RefreshWorker(fluxnex_manager, events=False)
    try:
        assert worker.run_once().claimed == 0  # just connected: its hour-long token is not due, not idle
        row = fluxnex_manager.store.get(TENANT, "qb")
        assert row is not None
        month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
        assert fluxnex_manager.store.update_cas(row.id, row.version, last_refreshed_at=month_ago) is not None
        summary = worker.run_once()  # idle for 31 days, past QuickBooks' 30-day keep-alive
    finally:
        worker.close()
    assert (summary.claimed, summary.refreshed) == (1, 1)
    after = fluxnex_manager.get_connection(TENANT, "qb")["oauthTokenData"]
    assert after["refresh_token"] != before["refresh_token"]  # rotated: Intuit's 100-day clock starts again
    assert after["refresh_token_expires_at"] > before["refresh_token_expires_at"]
