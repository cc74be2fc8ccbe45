"""The OAuth2 flows that fetch a first token: the native-app authorization-code flow (RFC 8252), client credentials.

``authorize`` runs the authorization-code flow with PKCE: a one-shot HTTP server on 127.0.0.1 receives the
redirect, ``state`` is checked, the redirect's ``iss`` too when the provider's metadata promised it (RFC 9207),
the code is exchanged with the PKCE verifier, and every extra callback parameter is kept
(``oauthTokenData.callbackQueryString``, where n8n keeps QuickBooks' ``realmId``). ``fetch_token`` picks the
grant: client credentials, or ``authorize``. A timeout or a denied consent raises ``ConnectError``.
``fluxnex.api.connect.connect_oauth2`` validates the settings, runs this and stores the connection.

* A public client (``grantType: "pkce"`` without a client secret) sends only its ``client_id`` (RFC 8252).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from fluxnex.contract.errors import FluxnexError

if TYPE_CHECKING:
    import requests

__all__ = ["OAUTH2_BASE", "ConnectError", "authorize", "fetch_token", "loopback"]

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


def fetch_token(
    effective: dict[str, Any], *, http: requests.Session, http_timeout: float,
    open_url: Callable[[str], object] | None, timeout: float, port: int,
) -> dict[str, Any]:
    """A first token for the effective client settings: client credentials, else the authorization-code flow.

    ``http_timeout`` bounds each provider request; ``timeout`` is how long the person has to approve.
    """
    from fluxnex.lifecycle import oauth2

    if effective.get("grantType") == "clientCredentials":
        return oauth2.client_credentials(effective, http=http, timeout=http_timeout)
    return authorize(effective, http=http, http_timeout=http_timeout, open_url=open_url, timeout=timeout, port=port)


def authorize(
    effective: dict[str, Any], *, http: requests.Session, http_timeout: float,
    open_url: Callable[[str], object] | None, timeout: float, port: int,
) -> dict[str, Any]:
    """The authorization-code flow with PKCE through a loopback redirect; the token response's data."""
    from fluxnex.lifecycle import oauth2

    with loopback(port, name="fluxnex-callback") as (redirect_uri, callback):
        request = oauth2.authorization_url(effective, redirect_uri)
        if open_url is not None:
            open_url(request.url)
        if not callback.done.wait(timeout):
            raise ConnectError(f"no authorization arrived within {timeout:g} s: nothing was stored")
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
        effective, code=code, redirect_uri=redirect_uri, code_verifier=request.code_verifier, http=http,
        callback_params=extra or None, timeout=http_timeout,
    )


@contextlib.contextmanager
def loopback(port: int, *, name: str) -> Iterator[tuple[str, _Callback]]:
    """A one-shot HTTP server on 127.0.0.1 (``port`` 0: any free one) for the redirect of an authorization flow:
    yields (its ``/callback`` URL, the callback whose ``done`` is set once the redirect arrived); closed after."""
    callback = _Callback()
    path = "/callback"
    server = HTTPServer(("127.0.0.1", port), _make_handler(callback, path))
    server.timeout = 0.2
    thread = threading.Thread(target=_serve_until, args=(server, callback), daemon=True, name=name)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}", callback
    finally:
        callback.done.set()
        thread.join(5)
        server.server_close()


def _serve_until(server: HTTPServer, callback: _Callback) -> None:
    while not callback.done.is_set():
        server.handle_request()
