"""HubSpot credential types for FluxNex.

HubSpot specifics: OAuth2 client credentials go in the form body; private app tokens are Bearer tokens; the
legacy ``hapikey`` query parameter (refused by HubSpot since 30 November 2022) still loads for old data but
warns; HubSpot reports errors in its own ``{"status", "message"}`` shape, which is translated into a clear
error naming HubSpot; 429 answers are retried once after ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fluxnex import CredentialType, FluxnexError, Property, hookimpl

__all__ = ["HubspotApi", "HubspotAppToken", "HubspotOAuth2Api", "hubspot_error"]

AUTHORIZATION_URL = "https://app.hubspot.com/oauth/authorize"
TOKEN_URL = "https://api.hubapi.com/oauth/v1/token"
API_BASE = "https://api.hubapi.com"
TEST_PATH = "/account-info/v3/details"
#: The scopes n8n's HubSpot OAuth2 definition asks for by default.
DEFAULT_SCOPES = (
    "crm.lists.write crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read "
    "crm.objects.companies.write crm.objects.deals.read crm.objects.deals.write crm.objects.owners.read "
    "crm.schemas.companies.read crm.schemas.contacts.read crm.schemas.deals.read forms tickets"
)
_TEST = {"request": {"baseURL": API_BASE, "url": TEST_PATH}}
_TIMEOUT = 15.0
_MAX_RETRY_AFTER = 10.0
#: HubSpot's ``status`` codes on its token endpoint, as the RFC 6749 errors they mean.
_OAUTH_STATUS = {"BAD_REFRESH_TOKEN": "invalid_grant", "BAD_AUTH_CODE": "invalid_grant",
                 "BAD_CLIENT_ID": "invalid_client", "BAD_CLIENT_SECRET": "invalid_client",
                 "BAD_REDIRECT_URI": "invalid_grant", "BAD_GRANT_TYPE": "unsupported_grant_type"}
_API_BASE_PROPERTY = Property(display_name="API Base URL", name="apiBaseUrl", type="hidden", default=API_BASE)


_HAPIKEY = re.compile(r"(hapikey=)[^&\s\"']+", re.IGNORECASE)


class _RedactHapikey(logging.Filter):
    """Redact ``hapikey`` values from log records (urllib3 logs every request URL at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_HAPIKEY.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str) and "hapikey" in record.msg.lower():
            record.msg = _HAPIKEY.sub(r"\1[redacted]", record.msg)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactHapikey())


class HubspotOAuth2Api(CredentialType):
    """HubSpot through OAuth2; HubSpot wants the client id and secret in the form body; tokens last 1800 s."""

    name = "hubspotOAuth2Api"
    display_name = "HubSpot OAuth2 API"
    extends = ["oAuth2Api"]
    documentation_url = "https://developers.hubspot.com/docs/api/oauth-quickstart-guide"
    properties = [
        Property(display_name="Grant Type", name="grantType", type="hidden", default="authorizationCode"),
        Property(display_name="Authorization URL", name="authUrl", type="hidden", default=AUTHORIZATION_URL,
                 required=True),
        Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden", default=TOKEN_URL,
                 required=True),
        Property(display_name="Scope", name="scope", type="hidden", default=DEFAULT_SCOPES),
        Property(display_name="Auth URI Query Parameters", name="authQueryParameters", type="hidden",
                 default="grant_type=authorization_code"),
        Property(display_name="Authentication", name="authentication", type="hidden", default="body"),
        _API_BASE_PROPERTY,
    ]
    test = _TEST


class HubspotAppToken(CredentialType):
    """A HubSpot private app access token, sent as ``Authorization: Bearer``."""

    name = "hubspotAppToken"
    display_name = "HubSpot App Token"
    documentation_url = "https://developers.hubspot.com/docs/api/private-apps"
    properties = [
        Property(display_name="APP Token", name="appToken", type="password", required=True),
        _API_BASE_PROPERTY,
    ]
    authenticate = {
        "type": "generic", "properties": {"headers": {"Authorization": "=Bearer {{$credentials.appToken}}"}},
    }
    test = _TEST


class HubspotApi(CredentialType):
    """HubSpot's legacy API key (``hapikey`` query parameter): loadable for old data, deprecated."""

    name = "hubspotApi"
    display_name = "HubSpot API (legacy API key)"
    deprecated = "HubSpot stopped accepting API keys on 30 November 2022; use hubspotAppToken"
    properties = [
        Property(display_name="API Key", name="apiKey", type="password", required=True),
        _API_BASE_PROPERTY,
    ]
    authenticate = {"type": "generic", "properties": {"qs": {"hapikey": "={{$credentials.apiKey}}"}}}
    test = _TEST


_TYPES = ("hubspotOAuth2Api", "hubspotAppToken", "hubspotApi")


def _is_mine(credential_type: Any) -> bool:
    from fluxnex.contract.plugins import get_registry

    name = getattr(credential_type, "name", None)
    if not isinstance(name, str) or name not in get_registry():
        return False
    return any(get_registry().is_a(name, own) for own in _TYPES)


def hubspot_error(body: Any) -> str | None:
    """HubSpot's legacy error (``{"status": ..., "message": ...}``) as one line naming HubSpot, or None."""
    if not isinstance(body, Mapping) or "message" not in body or "error" in body:
        return None
    status = str(body.get("status") or body.get("category") or "error")[:64]
    return f"HubSpot {status}: {str(body.get('message'))[:200]}"


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class _HubSpotTokenHttp:
    """Wraps ``http`` for core's OAuth2 client: HubSpot's legacy token errors become RFC 6749 errors."""

    def __init__(self, http: Any) -> None:
        self._http = http

    def post(self, url: str, **kwargs: Any) -> Any:
        import json

        response = self._http.post(url, **kwargs)
        if response.status_code >= 400:
            body = _json(response)
            message = hubspot_error(body)
            if message is not None:
                code = _OAUTH_STATUS.get(str(body.get("status")), "server_error"
                                         if response.status_code >= 500 else "invalid_request")
                response._content = json.dumps({"error": code, "error_description": message}).encode()
                response.headers["Content-Type"] = "application/json"
        return response


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register HubSpot's credential types."""
    register(HubspotOAuth2Api)
    register(HubspotAppToken)
    register(HubspotApi)


@hookimpl
def refresh_token(credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
    """Core's OAuth2 refresh, with HubSpot's legacy error bodies translated (the error then names HubSpot)."""
    if not _is_mine(credential_type) or "oauthTokenData" not in data:
        return None
    from fluxnex.lifecycle import oauth2

    effective = {**credential_type.effective_data(data), "oauthTokenData": data["oauthTokenData"]}
    new = oauth2.refresh(effective, http=_HubSpotTokenHttp(http))  # type: ignore[arg-type]
    return {**data, "oauthTokenData": new["oauthTokenData"]}


@hookimpl
def test_connection(credential_type: Any, data: dict[str, Any], http: Any) -> tuple[bool, str] | None:
    """GET account-info; a 429 is retried once after its ``Retry-After``; URLs (which may hold hapikey) are never
    shown."""
    if not _is_mine(credential_type):
        return None
    import requests

    url = str(data.get("apiBaseUrl") or API_BASE).rstrip("/") + TEST_PATH
    host = urlsplit(url).netloc
    try:
        response = http.get(url, headers={"Accept": "application/json"}, timeout=_TIMEOUT)
        if response.status_code == 429:
            time.sleep(_retry_after(response))
            response = http.get(url, headers={"Accept": "application/json"}, timeout=_TIMEOUT)
    except requests.RequestException as exc:
        return False, f"HubSpot API at {host} unreachable ({type(exc).__name__})"
    except FluxnexError as exc:
        return False, f"HubSpot API at {host}: {exc}"
    body = _json(response)
    if response.status_code == 200:
        portal = body.get("portalId") if isinstance(body, Mapping) else None
        return True, f"HubSpot portal {portal}" if portal else "HubSpot account reachable"
    detail = hubspot_error(body) or f"HubSpot answered HTTP {response.status_code}"
    return False, f"{detail} (HTTP {response.status_code} from {host})"


def _retry_after(response: Any) -> float:
    value = str(response.headers.get("Retry-After") or "1").strip()
    try:
        return min(_MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        return 1.0
