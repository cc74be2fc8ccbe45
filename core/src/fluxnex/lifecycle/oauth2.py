"""OAuth2 for n8n ``oAuth2Api`` credential data: authorization code with PKCE, client credentials, refresh.

oauthlib prepares request bodies, creates the PKCE pair and validates token responses; requests does the HTTP
through a ``requests.Session`` the caller passes in, with a timeout on every call.

Decisions:

* Token responses are stored as n8n stores them: ``data["oauthTokenData"]`` is the provider's JSON with every
  field kept, plus ``expires_at`` (epoch seconds, from ``expires_in`` at receipt) and, after an authorization
  code exchange, ``callbackQueryString`` (extra callback parameters such as QuickBooks' ``realmId``).
* A refresh merges: new values win, fields the new response does not repeat (``refresh_token``,
  ``instance_url``, ``scope``, ``callbackQueryString``) are kept. ``expires_in``/``expires_at`` are never
  carried over: when the new response has no ``expires_in`` the expiry is unknown and ``expires_at`` is
  absent, so a plugin can supply it (Salesforce).
* Client authentication is HTTP Basic (``authentication: "header"``, n8n's default) or form fields
  (``"body"``); with no client secret the client is public and sends only ``client_id``. Credentials are
  never put in a query string. Like n8n, the Basic credentials are not form-encoded before base64.
* https is required, except plain http to loopback hosts (127.0.0.0/8, ::1, localhost) for sandboxes.
* Every token-endpoint failure, including unusable data, raises ``RefreshError``: ``transient=False`` when a
  person must act (invalid_grant, invalid_client, ...), ``transient=True`` when retrying may succeed (5xx,
  429 with ``retry_after``, timeouts, connection errors, malformed or incomplete responses). Messages name
  the host and the OAuth error code, never a secret; requests' exceptions (which carry URLs) are not chained.
* A ``refresh`` of ``grantType: "clientCredentials"`` data without a refresh token fetches a new token.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import requests
from oauthlib.oauth2 import BackendApplicationClient, WebApplicationClient
from oauthlib.oauth2.rfc6749.errors import MissingTokenError, OAuth2Error
from oauthlib.oauth2.rfc6749.parameters import parse_token_response

from fluxnex.contract.errors import ConfigurationError, RefreshError

__all__ = [
    "DEFAULT_TIMEOUT",
    "AuthorizationRequest",
    "authorization_url",
    "client_credentials",
    "exchange_code",
    "needs_refresh",
    "refresh",
    "token_expires_at",
]

DEFAULT_TIMEOUT = 10.0
#: Token-response fields that give the refresh token's own lifetime in seconds (Intuit, Keycloak).
REFRESH_LIFETIME_FIELDS = ("x_refresh_token_expires_in", "refresh_token_expires_in", "refresh_expires_in")
PERMANENT_ERRORS = frozenset({
    "invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "unsupported_grant_type",
    "invalid_request", "invalid_scope", "invalid_token", "token_revoked", "revoked",
})
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})
_MAX_DESCRIPTION = 200
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@attrs.frozen
class AuthorizationRequest:
    """Where to send the user, and what to keep until the callback (``code_verifier`` is secret)."""

    url: str
    state: str
    code_verifier: str = attrs.field(repr=False)
    redirect_uri: str


def _host(url: str) -> str:
    """Return the host[:port] of a URL, without userinfo, path or query."""
    parts = urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "<no host>"


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _transport_problem(url: str, field: str) -> str | None:
    """Explain why ``url`` may not be used, or return None when it may."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return None
    if parts.scheme == "http":
        return f"{field} must use https (plain http is allowed only for loopback hosts): {_host(url)}"
    return f"{field} is not an http(s) URL"


def _scopes(data: Mapping[str, Any]) -> list[str]:
    raw = data.get("scope") or ""
    return [s for s in re.split(r"[\s,]+", str(raw)) if s]


def authorization_url(data: Mapping[str, Any], redirect_uri: str) -> AuthorizationRequest:
    """Build the authorization URL with a random state and a PKCE S256 challenge."""
    auth_url = str(data.get("authUrl") or "")
    client_id = str(data.get("clientId") or "")
    if not auth_url or not client_id:
        raise ConfigurationError("OAuth2 data needs authUrl and clientId to build an authorization URL")
    problem = _transport_problem(auth_url, "authUrl")
    if problem:
        raise ConfigurationError(problem)
    client = WebApplicationClient(client_id)
    verifier = client.create_code_verifier(64)
    challenge = client.create_code_challenge(verifier, "S256")
    state = client.state_generator()
    params: dict[str, str] = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri}
    if scopes := _scopes(data):
        params["scope"] = " ".join(scopes)
    params.update(state=state, code_challenge=challenge, code_challenge_method="S256")
    params.update(parse_qsl(str(data.get("authQueryParameters") or "").lstrip("?"), keep_blank_values=True))
    parts = urlsplit(auth_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    url = urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier, redirect_uri=redirect_uri)


def _client_auth(data: Mapping[str, Any]) -> tuple[dict[str, Any], requests.auth.AuthBase | None]:
    """Return the extra body parameters and the requests auth for the configured client authentication."""
    client_id = str(data.get("clientId") or "")
    secret = data.get("clientSecret") or None
    if not client_id:
        raise RefreshError("OAuth2 data has no clientId", transient=False)
    if secret is not None and data.get("authentication", "header") != "body":
        return {}, requests.auth.HTTPBasicAuth(client_id, str(secret))
    body: dict[str, Any] = {"client_id": client_id}
    if secret is not None:
        body["client_secret"] = str(secret)
    return body, None


def _redact(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        if value and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text


def _retry_after(response: requests.Response) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _parse_body(response: requests.Response) -> Any:
    text = response.text
    try:
        return json.loads(text)
    except ValueError:
        if "x-www-form-urlencoded" in (response.headers.get("Content-Type") or ""):
            return dict(parse_qsl(text, keep_blank_values=True))
        return None


def _oauth_failure(where: str, error: str, description: str, status: int, hidden: Iterable[str],
                   retry_after: float | None) -> RefreshError:
    code = error if _ERROR_CODE.match(error) else "unrecognised_error"
    retryable_status = status >= 500 or status in (408, 429)
    transient = code in TRANSIENT_ERRORS or (code not in PERMANENT_ERRORS and retryable_status)
    message = f"{where} failed (HTTP {status}): {code}"
    if description:
        message += f": {_redact(description, hidden)[:_MAX_DESCRIPTION]}"
    return RefreshError(message, transient=transient, retry_after=retry_after)


def _post_token(url: str, body: str, auth: requests.auth.AuthBase | None, *, http: requests.Session,
                timeout: float | None, hidden: Iterable[str]) -> dict[str, Any]:
    """POST a token request and return the validated JSON response, or raise RefreshError.

    ``timeout`` None: the session's own overall deadline (the manager's ``http_timeout``), else
    ``DEFAULT_TIMEOUT``.
    """
    if timeout is None:
        timeout = float(getattr(http, "deadline", DEFAULT_TIMEOUT))
    else:
        timeout = min(timeout, float(getattr(http, "deadline", timeout)))
    where = f"token request to {_host(url)}"
    hidden = list(hidden)
    problem = _transport_problem(url, "accessTokenUrl")
    if problem:
        raise RefreshError(problem, transient=False)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    try:
        response = http.post(url, data=body, headers=headers, auth=auth, timeout=timeout,
                             allow_redirects=False)
    except requests.Timeout:
        raise RefreshError(f"{where} timed out after {timeout:g}s", transient=True) from None
    except requests.ConnectionError:
        raise RefreshError(f"{where} failed: could not connect", transient=True) from None
    except requests.RequestException as exc:
        raise RefreshError(f"{where} failed: {type(exc).__name__}", transient=True) from None
    status = response.status_code
    retry_after = _retry_after(response)
    payload = _parse_body(response)
    if isinstance(payload, dict) and payload.get("error"):
        description = str(payload.get("error_description") or "")
        raise _oauth_failure(where, str(payload["error"]), description, status, hidden, retry_after)
    if isinstance(payload, dict) and not 200 <= status < 300 and isinstance(payload.get("status"), str):
        # providers' pre-RFC error shape {"status": "BAD_REFRESH_TOKEN", "message": ...} (HubSpot's legacy API)
        description = str(payload.get("message") or "")
        raise _oauth_failure(where, payload["status"], description, status, hidden, retry_after)
    if status == 429 or status >= 500 or status == 408:
        raise RefreshError(f"{where} failed: HTTP {status}", transient=True, retry_after=retry_after)
    if not 200 <= status < 300:
        raise RefreshError(f"{where} failed: HTTP {status}", transient=False)
    if not isinstance(payload, dict):
        raise RefreshError(f"{where} failed: the response is not a JSON object", transient=True)
    if not isinstance(payload.get("access_token"), str) or not payload["access_token"]:
        raise RefreshError(f"{where} failed: the response has no access_token", transient=True)
    try:
        parse_token_response(json.dumps(payload))
    except MissingTokenError:
        raise RefreshError(f"{where} failed: the response has no access_token", transient=True) from None
    except OAuth2Error as exc:
        raise _oauth_failure(where, str(exc.error), "", status, hidden, None) from None
    except (ValueError, TypeError, Warning):
        raise RefreshError(f"{where} failed: the token response is malformed", transient=True) from None
    return payload


def _expires_in(raw: Mapping[str, Any]) -> float | None:
    value = raw.get("expires_in")
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _token_data(raw: Mapping[str, Any], received_at: float,
                base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge a token response over ``base`` (the previous token data) and compute ``expires_at``."""
    merged = {k: v for k, v in (base or {}).items() if k not in ("expires_in", "expires_at")}
    merged.update({k: v for k, v in raw.items() if not (k == "refresh_token" and not v)})
    merged.pop("expires_at", None)
    lifetime = _expires_in(raw)
    if lifetime is not None:
        merged["expires_at"] = round(received_at + lifetime, 3)
    elif isinstance(raw.get("expires_at"), int | float) and not isinstance(raw.get("expires_at"), bool):
        merged["expires_at"] = raw["expires_at"]
    for field in REFRESH_LIFETIME_FIELDS:  # a rolling refresh-token lifetime, renewed with each response
        value = raw.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            merged["refresh_token_expires_at"] = round(received_at + float(value), 3)
            break
    return merged


def _stored_token_data(data: Mapping[str, Any]) -> dict[str, Any]:
    value = data.get("oauthTokenData")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    return dict(value) if isinstance(value, Mapping) else {}


def exchange_code(data: Mapping[str, Any], *, code: str, redirect_uri: str, code_verifier: str | None,
                  http: requests.Session, callback_params: Mapping[str, str] | None = None,
                  timeout: float | None = None) -> dict[str, Any]:
    """Exchange an authorization code (with its PKCE verifier) and return the new data dict."""
    extra, auth = _client_auth(data)
    client = WebApplicationClient(str(data.get("clientId")))
    body = client.prepare_request_body(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier,
                                       include_client_id="client_id" in extra,
                                       **{k: v for k, v in extra.items() if k != "client_id"})
    hidden = [code, str(data.get("clientSecret") or ""), code_verifier or ""]
    received_at = time.time()
    raw = _post_token(str(data.get("accessTokenUrl") or ""), body, auth, http=http, timeout=timeout,
                      hidden=hidden)
    token_data = _token_data(raw, received_at)
    callback = {k: v for k, v in (callback_params or {}).items() if k not in ("code", "state", "iss")}
    if callback:
        token_data["callbackQueryString"] = callback
    return {**data, "oauthTokenData": token_data}


def client_credentials(data: Mapping[str, Any], *, http: requests.Session,
                       timeout: float | None = None) -> dict[str, Any]:
    """Run the client_credentials grant and return the new data dict."""
    extra, auth = _client_auth(data)
    client = BackendApplicationClient(str(data.get("clientId")))
    body = client.prepare_request_body(scope=_scopes(data) or None, include_client_id="client_id" in extra,
                                       **{k: v for k, v in extra.items() if k != "client_id"})
    received_at = time.time()
    raw = _post_token(str(data.get("accessTokenUrl") or ""), body, auth, http=http, timeout=timeout,
                      hidden=[str(data.get("clientSecret") or "")])
    return {**data, "oauthTokenData": _token_data(raw, received_at)}


def refresh(data: Mapping[str, Any], *, http: requests.Session,
            timeout: float | None = None) -> dict[str, Any]:
    """Run the refresh_token grant and return the new full data dict (old fields kept unless replaced)."""
    old = _stored_token_data(data)
    refresh_token = old.get("refresh_token")
    if not refresh_token:
        if data.get("grantType") == "clientCredentials":
            return client_credentials(data, http=http, timeout=timeout)
        raise RefreshError("no refresh_token is stored: the connection must be authorized again",
                           transient=False)
    extra, auth = _client_auth(data)
    client = WebApplicationClient(str(data.get("clientId")))
    body = client.prepare_refresh_body(refresh_token=str(refresh_token), **extra)
    received_at = time.time()
    raw = _post_token(str(data.get("accessTokenUrl") or ""), body, auth, http=http, timeout=timeout,
                      hidden=[str(refresh_token), str(data.get("clientSecret") or "")])
    return {**data, "oauthTokenData": _token_data(raw, received_at, base=old)}


def token_expires_at(data: Mapping[str, Any]) -> float | None:
    """Return when the stored access token expires (epoch seconds), or None when unknown."""
    value = _stored_token_data(data).get("expires_at")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def needs_refresh(data: Mapping[str, Any], leeway_seconds: float, now: float | None = None) -> bool:
    """True without an access token or when it expires within the leeway; False when expiry is unknown."""
    if not _stored_token_data(data).get("access_token"):
        return True
    expires_at = token_expires_at(data)
    if expires_at is None:
        return False
    return (time.time() if now is None else now) + leeway_seconds >= expires_at
