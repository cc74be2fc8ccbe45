"""Core's built-in plugin: n8n's base credential types and the generic OAuth2 refresher.

It goes through the same hooks as third-party plugins (``fluxnex.hookimpl``). n8n's HTTP node
authenticates ``httpBasicAuth``, ``httpDigestAuth``, ``httpQueryAuth`` and ``httpCustomAuth`` in code rather
than with a declarative ``authenticate`` block; the ``authenticate`` hook below does the same, and applies the
catalog types whose ``authenticate`` is code (``fluxnex.n8n.code_auth``), with the tokens some of them fetch first
stored with the connection and shared through its lease (``fluxnex.lifecycle.code_tokens_shared``). ``httpSslAuth``
adds nothing to the request: its client certificate is the session's transport (``fluxnex.api.session``).
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from fluxnex.contract.hookspecs import hookimpl
from fluxnex.n8n._base_types import BASE_TYPES

if TYPE_CHECKING:
    from fluxnex.lifecycle.code_tokens import CodeTokenCache

OAUTH2_BASE = "oAuth2Api"
_TOKEN_TIMEOUT = 30.0
_tokens: CodeTokenCache | None = None
_tokens_lock = threading.Lock()


def code_tokens() -> CodeTokenCache:
    """The process's cache of tokens fetched by code-authenticated types (created on first use)."""
    global _tokens
    with _tokens_lock:
        if _tokens is None:
            from fluxnex.lifecycle._http import provider_session
            from fluxnex.lifecycle.code_tokens import CodeTokenCache

            session = provider_session(_TOKEN_TIMEOUT)
            _tokens = CodeTokenCache(lambda: session, timeout=_TOKEN_TIMEOUT)
        return _tokens


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register n8n's base and generic types."""
    for definition in BASE_TYPES.values():
        register(definition)


@hookimpl(trylast=True)
def refresh_token(credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
    """Refresh (or, for client credentials, re-fetch) the token of any type extending ``oAuth2Api``."""
    from fluxnex.contract.plugins import get_registry
    from fluxnex.lifecycle import oauth2

    registry = get_registry()
    known = credential_type.name in registry
    is_oauth2 = (
        registry.is_a(credential_type.name, OAUTH2_BASE) if known else OAUTH2_BASE in (credential_type.extends or [])
    )
    if not is_oauth2:
        return None
    # talk to the provider with the data n8n would use (defaults, `={{$self...}}` URLs resolved), but store
    # only the new token next to the connection's own values
    effective = {**credential_type.effective_data(data), "oauthTokenData": data.get("oauthTokenData")}
    if effective.get("grantType") == "clientCredentials":
        fresh = oauth2.client_credentials(effective, http=http)
    else:
        fresh = oauth2.refresh(effective, http=http)
    return {**data, "oauthTokenData": fresh["oauthTokenData"]}


@hookimpl(trylast=True)
def revoke_token(credential_type: Any, data: dict[str, Any], http: Any) -> bool | None:
    """Revoke an ``oAuth2Api`` grant at its RFC 7009 endpoint (stored by discovery, or published by its server)."""
    from fluxnex.contract.plugins import get_registry
    from fluxnex.lifecycle import oauth2_metadata

    registry = get_registry()
    if credential_type.name not in registry or not registry.is_a(credential_type.name, OAUTH2_BASE):
        return None
    effective = {**credential_type.effective_data(data), "oauthTokenData": data.get("oauthTokenData")}
    if data.get(oauth2_metadata.SERVER_FIELD) is not None:
        effective[oauth2_metadata.SERVER_FIELD] = data[oauth2_metadata.SERVER_FIELD]
    return oauth2_metadata.revoke(effective, http=http)


@hookimpl(trylast=True)
def authenticate(credential_type: Any, data: dict[str, Any], request: Any) -> Any:
    """Apply the generic HTTP types that n8n authenticates in code, and the catalog's code-authenticated types."""
    import requests.auth

    from fluxnex.n8n.code_auth import Context, get_implementation

    name = credential_type.name
    if get_implementation(name) is not None:
        from fluxnex.lifecycle.code_tokens_shared import fetcher
        from fluxnex.n8n.code_auth.requests_adapter import authenticate_request

        credentials = credential_type.effective_data(data)
        now = time.time()  # the tokens stored with the connection first, the process cache for any other
        context = Context(now=now, fetch_token=fetcher(data, code_tokens().fetch, now=now))
        return authenticate_request(name, credentials, request, context)
    if name == "httpBasicAuth":
        return requests.auth.HTTPBasicAuth(str(data.get("user", "")), str(data.get("password", "")))(request)
    if name == "httpDigestAuth":
        # the HTTP node's `auth: {user, pass, sendImmediately: false}`: sent without credentials, answered with
        # Digest on the server's 401 challenge (requests' handler resends through the same transport)
        return requests.auth.HTTPDigestAuth(str(data.get("user", "")), str(data.get("password", "")))(request)
    if name == "httpSslAuth":
        return request  # a client certificate: the session's transport presents it (fluxnex.n8n.client_tls)
    if name == "httpQueryAuth":
        request.prepare_url(request.url, {str(data.get("name", "")): str(data.get("value", ""))})
        return request
    if name == "httpCustomAuth":
        return _apply_custom_auth(data, request)
    return None


def _apply_custom_auth(data: dict[str, Any], request: Any) -> Any:
    raw = data.get("json") or "{}"
    spec = json.loads(raw) if isinstance(raw, str) else raw
    for key, value in (spec.get("headers") or {}).items():
        request.headers[str(key)] = str(value)
    if spec.get("qs"):
        request.prepare_url(request.url, {str(k): str(v) for k, v in spec["qs"].items()})
    if spec.get("body"):
        body = json.loads(request.body or "{}") if request.body else {}
        body.update(spec["body"])
        request.prepare_body(data=None, files=None, json=body)
    return request
