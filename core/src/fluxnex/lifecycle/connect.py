"""Connecting an OAuth2 account: the native-app authorization-code flow (RFC 8252) and client credentials.

``connect_oauth2`` validates the client settings, and then either fetches a token with the client-credentials
grant, or runs the authorization-code flow with PKCE: a one-shot HTTP server on 127.0.0.1 receives the
redirect, ``state`` is checked, the code is exchanged with the PKCE verifier, every extra callback parameter is
kept (``oauthTokenData.callbackQueryString``, where n8n keeps QuickBooks' ``realmId``), and the connection is
stored ACTIVE. A timeout or a denied consent stores nothing.

* ``issuer``: the authorize and token endpoints (and the revocation endpoint, stored in ``oauthServer``) come
  from the provider's metadata (``fluxnex.lifecycle.oauth2_metadata``); the redirect's ``iss`` is checked (RFC 9207).
* ``reconnect=True`` re-authorizes an existing connection in place: its stored client settings are used (values
  in ``data`` win), and the new token replaces the old one under the same id and creation time, with status
  ACTIVE and failures, last error and retry time cleared. Without it, an existing name is ``ConnectionExists``.
* A public client (``grantType: "pkce"`` without a client secret) sends only its ``client_id`` (RFC 8252).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from fluxnex.contract.errors import FluxnexError
from fluxnex.n8n.validation import validate

if TYPE_CHECKING:
    from fluxnex.api.manager import ConnectionInfo, CredentialManager
    from fluxnex.contract.schema import CredentialType

__all__ = ["ConnectError", "connect_oauth2"]

OAUTH2_BASE = "oAuth2Api"
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>FluxNex</title>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p><p>You can close this window.</p>"
)


class ConnectError(FluxnexError):
    """The authorization flow did not complete (timeout, denied consent, state mismatch)."""


class _Callback:
    """The one redirect the local server waits for."""

    def __init__(self) -> None:
        self.params: dict[str, str] | None = None
        self.done = threading.Event()


def _make_handler(callback: _Callback, path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never log it
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != path or callback.done.is_set():
                self.send_error(404)
                return
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            denied = "error" in params
            body = _PAGE.format(
                title="Authorization denied" if denied else "Connected",
                text="The provider did not grant access." if denied else "FluxNex received the authorization.",
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            callback.params = params
            callback.done.set()

    return Handler


def oauth2_type(manager: CredentialManager, type_name: str, tenant: uuid.UUID, name: str) -> CredentialType:
    """The resolved type ``type_name``; an error with the ``connections add`` command when it is not OAuth2."""
    ct = manager.credential_type(type_name)
    if not manager.registry.is_a(ct.name, OAUTH2_BASE):
        import shlex

        raise FluxnexError(
            f"credential type {ct.name!r} is not OAuth2: store it with "
            f"`fluxnex connections add --tenant {tenant} --type {ct.name} --name {shlex.quote(name)}`"
        )
    return ct


def connect_oauth2(
    manager: CredentialManager,
    tenant_id: uuid.UUID | str,
    type_name: str | None,
    name: str,
    data: Mapping[str, Any],
    *,
    open_url: Callable[[str], object] | None = None,
    timeout: float = 300.0,
    port: int = 0,
    issuer: str | None = None,
    reconnect: bool = False,
) -> ConnectionInfo:
    """Authorize ``data``'s client with the provider and store the connection; returns its info.

    ``open_url`` receives the authorization URL (the CLI opens a browser or prints it; tests follow it).
    ``type_name`` may be None when reconnecting (the connection's type) or with ``issuer`` (``oAuth2Api``).
    """
    from fluxnex.api.manager import parse_tenant
    from fluxnex.lifecycle import oauth2

    tenant = parse_tenant(tenant_id)
    existing = manager.store.get(tenant, name)
    if existing is not None and not reconnect:
        from fluxnex.contract.errors import ConnectionExists

        raise ConnectionExists(tenant, name)
    if existing is not None:
        if type_name is not None and manager.credential_type(type_name).name != existing.type:
            raise FluxnexError(f"connection {name!r} is of type {existing.type!r}, not {type_name!r}")
        type_name = existing.type
        stored = {k: v for k, v in manager.decrypt(existing).items() if k != "oauthTokenData"}
        data = {**stored, **data}
    if type_name is None:
        if issuer is None:
            raise FluxnexError(f"connection {name!r} does not exist yet: give its type (--type)")
        type_name = OAUTH2_BASE
    ct = oauth2_type(manager, type_name, tenant, name)
    if issuer is not None:
        from fluxnex.lifecycle.oauth2_metadata import apply_discovery

        data = apply_discovery(data, issuer, http=manager.http, timeout=manager.http_timeout)
    settings = validate(ct, {k: v for k, v in data.items() if k != "oauthTokenData"})
    effective = ct.effective_data(settings)
    if effective.get("grantType") == "clientCredentials":
        token_data = oauth2.client_credentials(effective, http=manager.http, timeout=manager.http_timeout)
    else:
        effective.setdefault("oauthServer", settings.get("oauthServer"))
        token_data = _authorization_code(manager, effective, open_url=open_url, timeout=timeout, port=port)
    full = {**settings, "oauthTokenData": token_data["oauthTokenData"]}
    checked = manager.registry.hook.check_token_response(credential_type=ct, data=full)
    final = full if checked is None else checked
    if existing is not None:
        return manager.update_connection(tenant, name, data=final)
    return manager.create_connection(tenant, ct.name, name, final)


def _authorization_code(
    manager: CredentialManager, effective: dict[str, Any], *, open_url: Callable[[str], object] | None,
    timeout: float, port: int,
) -> dict[str, Any]:
    from fluxnex.lifecycle import oauth2

    callback = _Callback()
    path = "/callback"
    server = HTTPServer(("127.0.0.1", port), _make_handler(callback, path))
    server.timeout = 0.2
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=_serve_until, args=(server, callback), daemon=True, name="fluxnex-callback")
    thread.start()
    try:
        request = oauth2.authorization_url(effective, redirect_uri)
        if open_url is not None:
            open_url(request.url)
        if not callback.done.wait(timeout):
            raise ConnectError(f"no authorization arrived within {timeout:g} s: nothing was stored")
    finally:
        callback.done.set()
        thread.join(5)
        server.server_close()
    params = callback.params or {}
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise ConnectError(f"the provider did not grant access ({reason[:200]}): nothing was stored")
    if params.get("state") != request.state:
        raise ConnectError("the redirect's state does not match this flow (possible CSRF): nothing was stored")
    from fluxnex.lifecycle.oauth2_metadata import check_issuer

    problem = check_issuer(effective, params)
    if problem is not None:
        raise ConnectError(f"{problem} (possible mix-up attack, RFC 9207): nothing was stored")
    code = params.get("code")
    if not code:
        raise ConnectError("the redirect carried no authorization code: nothing was stored")
    extra = {k: v for k, v in params.items() if k not in ("code", "state", "iss")}
    return oauth2.exchange_code(
        effective, code=code, redirect_uri=redirect_uri, code_verifier=request.code_verifier, http=manager.http,
        callback_params=extra or None, timeout=manager.http_timeout,
    )


def _serve_until(server: HTTPServer, callback: _Callback) -> None:
    while not callback.done.is_set():
        server.handle_request()
