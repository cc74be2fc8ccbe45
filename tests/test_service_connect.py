"""The hosted connect pages over real HTTP (uvicorn on 127.0.0.1, the sandbox OAuth2 provider): forms, CSRF,
validation beside fields, single use, OAuth2 with state + PKCE + browser cookie, token-response checks,
reconnect in place, provider errors, OAuth apps whose rotated secret every connection picks up."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fluxnex.storage.store import Status
from fluxnex.testing.sandbox import SandboxProvider
from service_support import *  # noqa: F403 - the deployment fixture
from service_support import HUBSPOT, QB, Deployment, LiveService, bearer, create_key, sandbox_types_plugin

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000c3")
RETURN = "http://127.0.0.1:9/app/done?from=fluxnex"
SECRET = "tok-very-secret-123456"


@pytest.fixture
def service(deployment: Deployment) -> Iterator[LiveService]:
    with LiveService(deployment.manager, allowed_return_urls=("http://127.0.0.1:9/app",)) as svc:
        yield svc


def connect_link(svc: LiveService, **body: object) -> str:
    key = create_key(svc.manager, "connect:create")
    r = requests.post(svc.api("/connect-sessions"), headers=bearer(key), timeout=30,
                      json={"tenant_id": str(TENANT), "return_url": RETURN, **body})
    assert r.status_code == 201, r.text
    return str(r.json()["url"])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def returned(response: requests.Response) -> dict[str, str]:
    """The query the service sent the browser back to return_url with."""
    assert response.status_code == 303, response.text[:500]
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:9/app/done?from=fluxnex&")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_api_key_type_validation_then_success_single_use(service: LiveService) -> None:
    link = connect_link(service, type="revenovaApi", name="Revenova")
    browser = requests.Session()
    page = browser.get(link, timeout=30)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self' http://127.0.0.1:9" in csp
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None  # no inline script
    assert 'type="password" name="accessToken"' in page.text
    assert 'value="https://login.salesforce.com"' in page.text  # the default, prefilled
    csrf = csrf_of(page.text)
    bad = browser.post(link, data={"csrf_token": csrf, "instanceUrl": "https://x.my.salesforce.com",
                                   "accessToken": ""}, allow_redirects=False, timeout=30)
    assert bad.status_code == 422
    assert re.search(r'id="error-accessToken"[^>]*>is required<', bad.text)
    assert 'value="https://x.my.salesforce.com"' in bad.text  # what the user typed is kept
    assert service.manager.list_connections(TENANT) == []  # nothing stored
    no_csrf = requests.post(link, data={"accessToken": SECRET}, allow_redirects=False, timeout=30)
    assert no_csrf.status_code == 403 and service.manager.list_connections(TENANT) == []
    ok = browser.post(link, data={"csrf_token": csrf, "instanceUrl": "https://x.my.salesforce.com",
                                  "accessToken": SECRET}, allow_redirects=False, timeout=30)
    back = returned(ok)
    assert back["status"] == "ACTIVE"
    info = service.manager.get_connection_info(TENANT, "Revenova")
    assert str(info.id) == back["connection_id"]
    assert service.manager.get_connection(TENANT, "Revenova")["accessToken"] == SECRET
    again = browser.post(link, data={"csrf_token": csrf, "accessToken": "other"}, allow_redirects=False, timeout=30)
    assert again.status_code == 410 and "already been used" in again.text
    assert browser.get(link, timeout=30).status_code == 410
    assert requests.get(service.url + "/connect/not-a-token", timeout=30).status_code == 404


def test_reconnect_never_renders_the_stored_secret(service: LiveService) -> None:
    info = service.manager.create_connection(TENANT, "revenovaApi", "R", {"accessToken": SECRET})
    link = connect_link(service, connection_id=str(info.id))
    browser = requests.Session()
    page = browser.get(link, timeout=30)
    assert SECRET not in page.text and "A value is stored" in page.text
    ok = browser.post(link, data={"csrf_token": csrf_of(page.text), "instanceUrl": "https://y.my.salesforce.com",
                                  "accessToken": ""}, allow_redirects=False, timeout=30)
    assert returned(ok)["connection_id"] == str(info.id)
    data = service.manager.get_connection(TENANT, "R")
    assert data["accessToken"] == SECRET and data["instanceUrl"] == "https://y.my.salesforce.com"


def test_expired_session_link(deployment: Deployment) -> None:
    with LiveService(deployment.manager, allowed_return_urls=("http://127.0.0.1:9/app",), session_ttl=0.001) as svc:
        link = connect_link(svc, type="revenovaApi", name="Late")
        page = requests.get(link, timeout=30)
        assert page.status_code == 410 and "expired" in page.text




@pytest.fixture(autouse=True)
def sandboxed_types(sandbox_provider: SandboxProvider, register_plugin: Callable[..., list[str]]) -> None:
    """QuickBooks and HubSpot with their pinned endpoints at the sandbox (types extending the real ones)."""
    register_plugin(sandbox_types_plugin(sandbox_provider.authorize_url, sandbox_provider.token_url),
                    name="service-sandbox-types")


def _quickbooks_app(svc: LiveService, sandbox: SandboxProvider, secret: str = "qb-secret-1") -> None:
    sandbox.register_client("qb-client", secret)
    svc.manager.oauth_apps.set(QB, {"clientId": "qb-client", "clientSecret": secret, "apiBaseUrl": sandbox.url})


def _oauth_round_trip(browser: requests.Session, link: str, form: dict[str, str]) -> requests.Response:
    """Submit the form, let the sandbox approve, and deliver its redirect to the callback; the callback's answer."""
    page = browser.get(link, timeout=30)
    to_provider = browser.post(link, data={"csrf_token": csrf_of(page.text), **form}, allow_redirects=False,
                               timeout=30)
    assert to_provider.status_code == 303, to_provider.text[:300]
    cookie = to_provider.headers["set-cookie"]
    assert "fluxnex_oauth=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    query = parse_qs(urlsplit(to_provider.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 43
    at_provider = browser.get(to_provider.headers["location"], allow_redirects=False, timeout=30)
    assert at_provider.status_code == 302
    return browser.get(at_provider.headers["location"], allow_redirects=False, timeout=30)


def test_quickbooks_with_an_oauth_app_and_secret_rotation(service: LiveService,
                                                           sandbox_provider: SandboxProvider) -> None:
    sandbox_provider.configure(extra_callback_params={"realmId": "9130"})
    _quickbooks_app(service, sandbox_provider)
    link = connect_link(service, type=QB, name="QuickBooks")
    browser = requests.Session()
    page = browser.get(link, timeout=30)
    assert 'name="environment"' in page.text  # what the end user knows
    assert 'name="clientId"' not in page.text and 'name="clientSecret"' not in page.text  # the operator's
    assert "qb-secret-1" not in page.text and "qb-client" not in page.text
    back = returned(_oauth_round_trip(browser, link, {"environment": '"sandbox"'}))
    assert back["status"] == "ACTIVE"
    row = service.manager.store.get(TENANT, "QuickBooks")
    assert row is not None and str(row.id) == back["connection_id"]
    stored = service.manager.decrypt(row)
    assert stored["oauthTokenData"]["callbackQueryString"]["realmId"] == "9130"
    assert stored["environment"] == "sandbox"
    assert "clientSecret" not in stored and "clientId" not in stored  # inherited, not copied
    # rotate the app's secret: the connection's next refresh uses the new one (the old one no longer works)
    sandbox_provider.register_client("qb-client", "qb-secret-2")
    service.manager.oauth_apps.set(QB, {"clientId": "qb-client", "clientSecret": "qb-secret-2",
                                        "apiBaseUrl": sandbox_provider.url})
    refreshed = service.manager.refresh_connection(TENANT, "QuickBooks")
    assert refreshed["oauthTokenData"]["access_token"] != stored["oauthTokenData"]["access_token"]
    assert "clientSecret" not in service.manager.decrypt(service.manager.store.get(TENANT, "QuickBooks"))


def test_quickbooks_without_realm_id_stores_nothing(service: LiveService, sandbox_provider: SandboxProvider) -> None:
    _quickbooks_app(service, sandbox_provider)
    link = connect_link(service, type=QB, name="QB")
    answer = _oauth_round_trip(requests.Session(), link, {"environment": '"production"'})
    assert answer.status_code == 502 and "realmId" in answer.text
    assert service.manager.list_connections(TENANT) == []


def test_provider_errors_show_a_page_and_store_nothing(service: LiveService, sandbox_provider: SandboxProvider) -> None:
    sandbox_provider.configure(extra_callback_params={"realmId": "1"}, deny=True)
    _quickbooks_app(service, sandbox_provider)
    link = connect_link(service, type=QB, name="QB")
    denied = _oauth_round_trip(requests.Session(), link, {"environment": '"production"'})
    assert denied.status_code == 400 and "Access denied" in denied.text and "access_denied" in denied.text
    sandbox_provider.configure(deny=False)
    sandbox_provider.fail_next("invalid_grant")
    failed = _oauth_round_trip(requests.Session(), link, {"environment": '"production"'})
    assert failed.status_code == 502 and "did not issue a usable token" in failed.text
    assert service.manager.list_connections(TENANT) == []


def test_state_is_single_use_and_bound_to_the_browser(service: LiveService, sandbox_provider: SandboxProvider) -> None:
    sandbox_provider.configure(extra_callback_params={"realmId": "77"})
    _quickbooks_app(service, sandbox_provider)
    link = connect_link(service, type=QB, name="QB")
    browser = requests.Session()
    page = browser.get(link, timeout=30)
    to_provider = browser.post(link, data={"csrf_token": csrf_of(page.text), "environment": '"production"'},
                               allow_redirects=False, timeout=30)
    callback = requests.get(to_provider.headers["location"], allow_redirects=False, timeout=30).headers["location"]
    other_browser = requests.get(callback, allow_redirects=False, timeout=30)  # no cookie
    assert other_browser.status_code == 400 and "another browser" in other_browser.text
    replay = browser.get(callback, allow_redirects=False, timeout=30)  # the state was consumed above
    assert replay.status_code == 400 and "already completed" in replay.text
    assert service.manager.list_connections(TENANT) == []
    forged = browser.get(service.url + "/oauth/callback?state=forged&code=x", allow_redirects=False, timeout=30)
    assert forged.status_code == 400


def test_reconnect_expired_hubspot_in_place(service: LiveService, sandbox_provider: SandboxProvider) -> None:
    data = {"clientId": "sandbox-client", "clientSecret": "sandbox-secret",
            "oauthTokenData": sandbox_provider.issue_tokens()}
    info = service.manager.create_connection(TENANT, HUBSPOT, "HubSpot", data)
    row = service.manager.store.get(TENANT, "HubSpot")
    assert row is not None
    service.manager.store.update_cas(row.id, row.version, status=Status.EXPIRED.value, refresh_failures=3,
                                     last_error="invalid_grant")
    link = connect_link(service, connection_id=str(info.id))
    browser = requests.Session()
    page = browser.get(link, timeout=30)
    assert "Reconnect" in page.text and "sandbox-secret" not in page.text
    back = returned(_oauth_round_trip(browser, link, {"clientId": "sandbox-client", "clientSecret": ""}))
    assert back == {"from": "fluxnex", "connection_id": str(info.id), "status": "ACTIVE"}
    after = service.manager.get_connection_info(TENANT, "HubSpot")
    assert after.id == info.id and after.status == Status.ACTIVE and after.refresh_failures == 0
    assert after.created_at == info.created_at
    fresh = service.manager.get_connection(TENANT, "HubSpot")
    assert sandbox_provider.is_active(fresh["oauthTokenData"]["access_token"])
