"""Revenova TMS credential types for FluxNex (Revenova runs on Salesforce).

Salesforce specifics: the token response carries ``instance_url`` (required: the API host) and no
``expires_in``; the expiry comes from token introspection, else from the org's session timeout. Refresh is
core's OAuth2 refresh (which keeps ``instance_url`` and a refresh token the response leaves out).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fluxnex import CredentialType, FluxnexError, Property, hookimpl

__all__ = ["RevenovaApi", "RevenovaOAuth2Api", "login_host"]

OAUTH2_TYPE = "revenovaOAuth2Api"
DEFAULT_SESSION_TIMEOUT = 7200
_TIMEOUT = 15.0
_HOST = (
    "{{$self.environment === 'sandbox' ? 'https://test.salesforce.com' : $self.environment === 'custom'"
    " ? $self.myDomainUrl.replace(/\\/+$/, '') : 'https://login.salesforce.com'}}"
)


class RevenovaApi(CredentialType):
    """A Salesforce access token for a Revenova TMS org; requests go to ``instanceUrl`` with a Bearer token."""

    name = "revenovaApi"
    display_name = "Revenova TMS API"
    properties = [
        Property(
            display_name="Salesforce Instance URL",
            name="instanceUrl",
            type="string",
            default="https://login.salesforce.com",
        ),
        Property(display_name="Access Token", name="accessToken", type="password", required=True,
                 description="A Salesforce session or OAuth access token for the org."),
    ]
    authenticate = {
        "type": "generic", "properties": {"headers": {"Authorization": "=Bearer {{$credentials.accessToken}}"}},
    }
    test = {"request": {"baseURL": "={{$credentials.instanceUrl}}", "url": "/services/data/"}}


class RevenovaOAuth2Api(CredentialType):
    """Revenova through Salesforce's OAuth2 web-server flow with PKCE (production, sandbox or My Domain)."""

    name = OAUTH2_TYPE
    display_name = "Revenova TMS OAuth2 API (Salesforce)"
    extends = ["oAuth2Api"]
    documentation_url = "https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm"
    properties = [
        Property(
            display_name="Environment", name="environment", type="options", default="production",
            options=[{"name": "Production (login.salesforce.com)", "value": "production"},
                     {"name": "Sandbox (test.salesforce.com)", "value": "sandbox"},
                     {"name": "My Domain", "value": "custom"}],
        ),
        Property(display_name="My Domain URL", name="myDomainUrl", type="string", default="",
                 placeholder="https://acme.my.salesforce.com",
                 display_options={"show": {"environment": ["custom"]}}),
        Property(display_name="Session Timeout (seconds)", name="sessionTimeout", type="number",
                 default=DEFAULT_SESSION_TIMEOUT,
                 description="The org's session timeout, used when token introspection is not reachable."),
        Property(display_name="Grant Type", name="grantType", type="hidden", default="authorizationCode"),
        Property(display_name="Authorization URL", name="authUrl", type="hidden",
                 default=f"={_HOST}/services/oauth2/authorize"),
        Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden",
                 default=f"={_HOST}/services/oauth2/token"),
        Property(display_name="Introspection URL", name="introspectUrl", type="hidden",
                 default=f"={_HOST}/services/oauth2/introspect"),
        Property(display_name="Scope", name="scope", type="hidden", default="api refresh_token"),
        Property(display_name="Auth URI Query Parameters", name="authQueryParameters", type="hidden", default=""),
        Property(display_name="Authentication", name="authentication", type="hidden", default="body"),
    ]


def _is_oauth2(credential_type: Any) -> bool:
    from fluxnex.contract.plugins import get_registry

    name = getattr(credential_type, "name", None)
    return isinstance(name, str) and name in get_registry() and get_registry().is_a(name, OAUTH2_TYPE)


def _token(data: Mapping[str, Any]) -> dict[str, Any]:
    value = data.get("oauthTokenData")
    return dict(value) if isinstance(value, Mapping) else {}


def login_host(credential_type: CredentialType, data: Mapping[str, Any]) -> str:
    """The Salesforce login host the connection's environment selects."""
    url = str(credential_type.effective_data(data).get("accessTokenUrl") or "")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register Revenova's credential types."""
    register(RevenovaApi)
    register(RevenovaOAuth2Api)


@hookimpl
def check_token_response(credential_type: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    """Salesforce's token response must carry ``instance_url`` (the org's API host)."""
    if not _is_oauth2(credential_type):
        return None
    if not _token(data).get("instance_url"):
        raise FluxnexError("Salesforce token response has no instance_url (the org's API host): nothing was stored")
    return None


@hookimpl
def refresh_token(credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
    """Core's OAuth2 refresh against the environment's host (the token URL is an expression of ``environment``)."""
    if not _is_oauth2(credential_type) or "oauthTokenData" not in data:
        return None
    from fluxnex.lifecycle import oauth2

    effective = {**credential_type.effective_data(data), "oauthTokenData": data["oauthTokenData"]}
    new = oauth2.refresh(effective, http=http)
    return {**data, "oauthTokenData": new["oauthTokenData"]}


@hookimpl
def token_expires_at(credential_type: Any, data: dict[str, Any], http: Any) -> float | None:
    """Ask Salesforce's introspection endpoint when the token expires; else now plus the session timeout."""
    if not _is_oauth2(credential_type):
        return None
    import requests

    token = _token(data).get("access_token")
    effective = credential_type.effective_data(data)
    url = str(effective.get("introspectUrl") or "")
    if token and url:
        form = {"token": str(token), "token_type_hint": "access_token",
                "client_id": str(effective.get("clientId") or ""),
                "client_secret": str(effective.get("clientSecret") or "")}
        try:
            response = http.post(url, data=form, headers={"Accept": "application/json"}, timeout=_TIMEOUT,
                                 allow_redirects=False)
            body = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            body = None
        if isinstance(body, Mapping) and body.get("active") is True and isinstance(body.get("exp"), int | float):
            return float(body["exp"])
    timeout = effective.get("sessionTimeout") or DEFAULT_SESSION_TIMEOUT
    return time.time() + float(timeout)


@hookimpl
def test_connection(credential_type: Any, data: dict[str, Any], http: Any) -> tuple[bool, str] | None:
    """GET ``{instance_url}/services/data/`` (the API versions the org offers)."""
    if not _is_oauth2(credential_type):
        return None
    import requests

    instance = str(_token(data).get("instance_url") or "").rstrip("/")
    if not instance:
        return False, "Salesforce connection has no instance_url: connect it again"
    host = urlsplit(instance).netloc
    try:
        response = http.get(instance + "/services/data/", headers={"Accept": "application/json"}, timeout=_TIMEOUT)
    except requests.RequestException as exc:
        return False, f"Salesforce at {host} unreachable ({type(exc).__name__})"
    except FluxnexError as exc:
        return False, f"Salesforce at {host}: {exc}"
    if response.status_code == 200:
        return True, f"Salesforce org at {host}"
    return False, f"Salesforce at {host} answered HTTP {response.status_code}"
