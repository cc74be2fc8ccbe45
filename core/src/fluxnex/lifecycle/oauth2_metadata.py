"""Standard OAuth2 provider features without a plugin: discovery (RFC 8414 / OpenID Discovery 1.0), token
revocation (RFC 7009) and the authorization response's ``iss`` parameter (RFC 9207).

What discovery learns is stored with the connection in ``data["oauthServer"]`` (a framework field beside
``oauthTokenData``, not a secret): ``issuer``, ``revocation_endpoint`` when the provider has one, and
``authorization_response_iss_parameter_supported``. The authorize and token endpoints go where n8n's
``oAuth2Api`` keeps them (``authUrl``, ``accessTokenUrl``), unless the caller gave them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from fluxnex.contract.errors import ConfigurationError, FluxnexError
from fluxnex.lifecycle.oauth2 import DEFAULT_TIMEOUT, _client_auth, _host, _transport_problem

__all__ = ["SERVER_FIELD", "apply_discovery", "check_issuer", "discover", "revoke"]

SERVER_FIELD = "oauthServer"
_KEPT = ("issuer", "revocation_endpoint", "authorization_response_iss_parameter_supported")


def _metadata_urls(issuer: str) -> list[str]:
    """OpenID Discovery's URL first, then RFC 8414's (which inserts the well-known part before the path)."""
    parts = urlsplit(issuer.rstrip("/"))
    base = f"{parts.scheme}://{parts.netloc}"
    return [
        issuer.rstrip("/") + "/.well-known/openid-configuration",
        f"{base}/.well-known/oauth-authorization-server{parts.path}",
    ]


def discover(issuer: str, *, http: requests.Session, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """The provider's metadata for ``issuer``; ``ConfigurationError`` (one line) when there is none usable."""
    problem = _transport_problem(issuer, "the issuer")
    if problem:
        raise ConfigurationError(problem)
    tried = []
    for url in _metadata_urls(issuer):
        try:
            response = http.get(url, timeout=timeout, headers={"Accept": "application/json"}, allow_redirects=False)
        except requests.RequestException:
            raise ConfigurationError(f"discovery at {_host(url)} failed: could not connect") from None
        if response.status_code != 200:
            tried.append(f"HTTP {response.status_code}")
            continue
        try:
            metadata = response.json()
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise ConfigurationError(f"discovery at {_host(url)}: the metadata is not a JSON object")
        _check_metadata(issuer, metadata)
        return metadata
    raise ConfigurationError(
        f"no OAuth2/OpenID metadata for issuer {issuer} ({', '.join(tried)} at its well-known URLs)"
    )


def _check_metadata(issuer: str, metadata: Mapping[str, Any]) -> None:
    if str(metadata.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise ConfigurationError(
            f"the metadata of {issuer} names another issuer ({str(metadata.get('issuer'))[:100]!r}): refused"
        )
    for field in ("authorization_endpoint", "token_endpoint", "revocation_endpoint"):
        value = metadata.get(field)
        if value is None and field == "revocation_endpoint":
            continue
        if not isinstance(value, str) or _transport_problem(value, field):
            raise ConfigurationError(f"the metadata of {issuer} has no usable {field}")


def apply_discovery(data: Mapping[str, Any], issuer: str, *, http: requests.Session,
                    timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """``data`` with the endpoints from ``issuer``'s metadata filled in (given values win) and ``oauthServer``."""
    metadata = discover(issuer, http=http, timeout=timeout)
    out = dict(data)
    if not out.get("authUrl"):
        out["authUrl"] = metadata["authorization_endpoint"]
    if not out.get("accessTokenUrl"):
        out["accessTokenUrl"] = metadata["token_endpoint"]
    out[SERVER_FIELD] = {k: metadata[k] for k in _KEPT if metadata.get(k) is not None}
    return out


def check_issuer(data: Mapping[str, Any], params: Mapping[str, str]) -> str | None:
    """Why the callback's ``iss`` (RFC 9207) is unacceptable for ``data``, or None when it is fine.

    Known issuer (discovery): ``iss`` must equal it, and must be present when the provider said it sends it.
    Unknown issuer: an ``iss`` that is sent must at least be on the authorization endpoint's origin.
    """
    server = data.get(SERVER_FIELD) if isinstance(data.get(SERVER_FIELD), Mapping) else {}
    assert isinstance(server, Mapping)
    iss = params.get("iss")
    expected = server.get("issuer")
    if iss is None:
        if expected and server.get("authorization_response_iss_parameter_supported") is True:
            return "the provider promised an iss parameter (RFC 9207) but the redirect has none"
        return None
    if expected:
        if iss.rstrip("/") == str(expected).rstrip("/"):
            return None
        return f"the redirect's iss names another issuer ({iss[:100]!r})"
    auth = urlsplit(str(data.get("authUrl") or ""))
    got = urlsplit(iss)
    same_origin = (got.scheme, got.hostname, got.port) == (auth.scheme, auth.hostname, auth.port)
    return None if same_origin else f"the redirect's iss ({iss[:100]!r}) is not the authorization server's origin"


def _revocation_endpoint(data: Mapping[str, Any], http: requests.Session, timeout: float) -> str | None:
    """The stored revocation endpoint, else the one the authorization server's origin publishes (if any)."""
    server = data.get(SERVER_FIELD)
    if isinstance(server, Mapping):
        return str(server["revocation_endpoint"]) if server.get("revocation_endpoint") else None
    auth = urlsplit(str(data.get("authUrl") or ""))
    if not auth.scheme or not auth.netloc:
        return None
    try:
        metadata = discover(f"{auth.scheme}://{auth.netloc}", http=http, timeout=timeout)
    except ConfigurationError:
        return None  # no metadata at that origin: nothing known to revoke with
    endpoint = metadata.get("revocation_endpoint")
    return str(endpoint) if endpoint else None


def revoke(data: Mapping[str, Any], *, http: requests.Session, timeout: float = DEFAULT_TIMEOUT) -> bool | None:
    """Revoke the stored grant at the RFC 7009 endpoint (refresh token, else access token); None: no endpoint.

    The endpoint is the one discovery stored, else the one the metadata at the authorization endpoint's origin
    names (connections made without ``issuer``).
    """
    token_data = data.get("oauthTokenData")
    if not isinstance(token_data, Mapping):
        return None
    endpoint = _revocation_endpoint(data, http, timeout)
    if not endpoint:
        return None
    problem = _transport_problem(str(endpoint), "revocation_endpoint")
    if problem:
        raise FluxnexError(problem)
    if token_data.get("refresh_token"):
        token, hint = str(token_data["refresh_token"]), "refresh_token"
    elif token_data.get("access_token"):
        token, hint = str(token_data["access_token"]), "access_token"
    else:
        return None
    extra, auth = _client_auth(data)
    where = f"revocation at {_host(str(endpoint))}"
    try:
        response = http.post(str(endpoint), data={"token": token, "token_type_hint": hint, **extra}, auth=auth,
                             timeout=timeout, allow_redirects=False)
    except requests.RequestException:
        raise FluxnexError(f"{where} failed: could not connect") from None
    if response.status_code != 200:
        raise FluxnexError(f"{where} failed: HTTP {response.status_code}")
    return True
