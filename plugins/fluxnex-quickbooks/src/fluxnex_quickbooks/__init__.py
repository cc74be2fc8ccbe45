"""Intuit QuickBooks Online credential types for FluxNex.

What is specific to Intuit, and only that, lives here: ``realmId`` (the company id, which arrives on the
OAuth redirect and is kept in ``oauthTokenData.callbackQueryString``) is required; the rolling refresh-token
lifetime ``x_refresh_token_expires_in`` becomes ``oauthTokenData.refresh_token_expires_at``; the test request
needs the realm; revocation takes a JSON body. Refresh itself, rotation included, is core's generic OAuth2.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fluxnex import CredentialType, FluxnexError, Property, hookimpl

__all__ = [
    "QuickBooksOAuth2Api",
    "api_base_url",
    "realm_id",
    "refresh_token_expires_at",
    "refresh_token_expiring",
]

TYPE_NAME = "quickBooksOAuth2Api"
AUTHORIZATION_URL = "https://appcenter.intuit.com/connect/oauth2"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REVOKE_URL = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
SCOPE = "com.intuit.quickbooks.accounting"
API_BASES = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}
#: A connection whose refresh token lapses within this many days is flagged (a person must reconnect in time).
EXPIRY_WARNING_DAYS = 14
_TIMEOUT = 15.0


class QuickBooksOAuth2Api(CredentialType):
    """QuickBooks Online through OAuth2 (authorization code); Intuit authenticates clients with HTTP Basic."""

    name = TYPE_NAME
    display_name = "QuickBooks Online OAuth2 API"
    extends = ["oAuth2Api"]
    documentation_url = "https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization"
    #: Intuit revokes a refresh token unused for 100 days (rolling): the worker refreshes a connection idle for
    #: 30 days, leaving room for outages (``fluxnex.lifecycle.keep_alive``).
    keep_alive = 30 * 86400
    properties = [
        Property(display_name="Grant Type", name="grantType", type="hidden", default="authorizationCode"),
        Property(display_name="Authorization URL", name="authUrl", type="hidden", default=AUTHORIZATION_URL),
        Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden", default=TOKEN_URL),
        Property(display_name="Revoke URL", name="revokeUrl", type="hidden", default=REVOKE_URL),
        Property(display_name="Scope", name="scope", type="hidden", default=SCOPE),
        Property(display_name="Auth URI Query Parameters", name="authQueryParameters", type="hidden", default=""),
        Property(display_name="Authentication", name="authentication", type="hidden", default="header"),
        Property(
            display_name="Environment",
            name="environment",
            type="options",
            default="production",
            options=[{"name": "Production", "value": "production"}, {"name": "Sandbox", "value": "sandbox"}],
        ),
        Property(display_name="API Base URL", name="apiBaseUrl", type="hidden", default="",
                 description="Overrides the API host chosen by environment (tests, proxies)."),
    ]


def _token(data: Mapping[str, Any]) -> dict[str, Any]:
    value = data.get("oauthTokenData")
    return dict(value) if isinstance(value, Mapping) else {}


def realm_id(data: Mapping[str, Any]) -> str | None:
    """The QuickBooks company id (``realmId``) the connection was authorized for, or None."""
    callback = _token(data).get("callbackQueryString")
    value = callback.get("realmId") if isinstance(callback, Mapping) else None
    return str(value) if value else None


def api_base_url(data: Mapping[str, Any]) -> str:
    """The accounting API host for the connection's environment (``apiBaseUrl`` overrides it)."""
    override = data.get("apiBaseUrl")
    if override:
        return str(override).rstrip("/")
    return API_BASES.get(str(data.get("environment") or "production"), API_BASES["production"])


def refresh_token_expires_at(data: Mapping[str, Any]) -> float | None:
    """When the stored refresh token lapses (epoch seconds), or None when Intuit did not say."""
    value = _token(data).get("refresh_token_expires_at")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def refresh_token_expiring(data: Mapping[str, Any], now: float | None = None,
                           days: float = EXPIRY_WARNING_DAYS) -> bool:
    """True when the refresh token lapses within ``days`` (the connection must be reauthorized soon)."""
    expires = refresh_token_expires_at(data)
    return expires is not None and expires - (time.time() if now is None else now) <= days * 86400


def _with_refresh_expiry(data: Mapping[str, Any], received_at: float) -> dict[str, Any]:
    """Turn ``x_refresh_token_expires_in`` (seconds, rolling) into ``refresh_token_expires_at`` at receipt."""
    token = _token(data)
    lifetime = token.get("x_refresh_token_expires_in")
    if isinstance(lifetime, str) and lifetime.isdigit():
        lifetime = int(lifetime)
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
        token["refresh_token_expires_at"] = received_at + float(lifetime)
    return {**data, "oauthTokenData": token}


def _is_mine(credential_type: Any) -> bool:
    """True for ``quickBooksOAuth2Api`` and every type extending it."""
    from fluxnex.contract.plugins import get_registry

    name = getattr(credential_type, "name", None)
    return isinstance(name, str) and name in get_registry() and get_registry().is_a(name, TYPE_NAME)


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register QuickBooks' credential types."""
    register(QuickBooksOAuth2Api)


@hookimpl
def check_token_response(credential_type: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    """Require the ``realmId`` Intuit sends on the redirect; record the refresh token's expiry."""
    if not _is_mine(credential_type):
        return None
    if realm_id(data) is None:
        raise FluxnexError(
            "QuickBooks (Intuit) redirect carried no realmId (the company id every API call needs): "
            "nothing was stored; connect again and pick a company"
        )
    return _with_refresh_expiry(data, time.time())


@hookimpl
def refresh_token(credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
    """Core's OAuth2 refresh (which always keeps Intuit's rotated refresh token), plus the refresh-token expiry."""
    if not _is_mine(credential_type):
        return None
    from fluxnex.lifecycle import oauth2

    received_at = time.time()
    return _with_refresh_expiry(oauth2.refresh(data, http=http), received_at)


@hookimpl
def test_connection(credential_type: Any, data: dict[str, Any], http: Any) -> tuple[bool, str] | None:
    """GET the company's CompanyInfo, which needs the realm from the redirect."""
    if not _is_mine(credential_type):
        return None
    import requests

    realm = realm_id(data)
    if realm is None:
        return False, "QuickBooks connection has no realmId: connect it again"
    url = f"{api_base_url(data)}/v3/company/{realm}/companyinfo/{realm}"
    host = urlsplit(url).netloc
    try:
        response = http.get(url, headers={"Accept": "application/json"}, timeout=_TIMEOUT)
    except requests.RequestException as exc:
        return False, f"QuickBooks API at {host} unreachable ({type(exc).__name__})"
    except FluxnexError as exc:  # the session's refresh after a 401 failed (revoked grant, ...)
        return False, f"QuickBooks API at {host}: {exc}"
    if response.status_code == 200:
        info = response.json().get("CompanyInfo", {}) if _is_json(response) else {}
        name = info.get("CompanyName") if isinstance(info, Mapping) else None
        return True, f"QuickBooks company {name or realm}"
    return False, f"QuickBooks API at {host} answered HTTP {response.status_code}{_fault(response)}"


@hookimpl
def revoke_token(credential_type: Any, data: dict[str, Any], http: Any) -> bool | None:
    """Revoke the grant at Intuit: JSON ``{"token": refresh_token}`` with HTTP Basic client credentials."""
    if not _is_mine(credential_type):
        return None
    import requests

    token = _token(data)
    value = token.get("refresh_token") or token.get("access_token")
    if not value:
        return False
    url = str(data.get("revokeUrl") or REVOKE_URL)
    host = urlsplit(url).netloc
    auth = requests.auth.HTTPBasicAuth(str(data.get("clientId") or ""), str(data.get("clientSecret") or ""))
    try:
        response = http.post(url, json={"token": str(value)}, auth=auth, timeout=_TIMEOUT,
                             headers={"Accept": "application/json"}, allow_redirects=False)
    except requests.RequestException as exc:
        raise FluxnexError(f"QuickBooks revoke at {host} failed ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise FluxnexError(f"QuickBooks revoke at {host} answered HTTP {response.status_code}")
    return True


def _is_json(response: Any) -> bool:
    return "json" in (response.headers.get("Content-Type") or "")


def _fault(response: Any) -> str:
    """Intuit's error detail (``Fault.Error[0].Message``), if the body has one."""
    if not _is_json(response):
        return ""
    try:
        errors = response.json().get("Fault", {}).get("Error", [])
        message = errors[0].get("Message") or errors[0].get("message")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
    return f": {str(message)[:200]}" if message else ""
