"""The HTTP side of the sandbox OAuth2 provider: server and request handler; state lives in the provider."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fluxnex.testing._sandbox_grants import OAuthError, SandboxState, auth_style


class Server(ThreadingHTTPServer):
    """A threading HTTP server whose handlers reach the provider that owns it."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops connections when dozens of refreshes arrive at once

    def __init__(self, address: tuple[str, int], provider: SandboxState) -> None:
        super().__init__(address, _Handler)
        self.provider = provider
        self._open: set[socket.socket] = set()  # kept-alive connections, cut at close
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening and cut the connections still open (a kept-alive one would hold its thread)."""
        super().server_close()
        with self._open_lock:
            left, self._open = list(self._open), set()
        for conn in left:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def metadata(provider: SandboxState) -> dict[str, Any]:
    """The provider's metadata document (RFC 8414 / OpenID Discovery 1.0)."""
    return {
        "issuer": provider.url,
        "authorization_endpoint": provider.authorize_url,
        "token_endpoint": provider.token_url,
        "revocation_endpoint": provider.revoke_url,
        "introspection_endpoint": provider.introspect_url,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "authorization_response_iss_parameter_supported": provider.behaviour.send_iss,
    }


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "FluxNexSandbox/1.0"
    # headers and body are two writes: with Nagle on, a kept-alive connection's body waited for the client's
    # delayed ACK (40 ms on Linux) on every answer
    disable_nagle_algorithm = True
    _context: tuple[str, dict[str, str], dict[str, str], str] = ("", {}, {}, "none")

    def setup(self) -> None:
        """HTTP/1.1 (persistent connections) when the provider's behaviour asks for it, else HTTP/1.0."""
        if self.server.provider.behaviour.keep_alive:
            self.protocol_version = "HTTP/1.1"
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr log, which would print query strings."""

    @property
    def provider(self) -> SandboxState:
        return self.server.provider

    @property
    def authorization(self) -> str:
        return self.headers.get("Authorization") or ""

    def _split(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _body(self) -> dict[str, str]:
        """Return the request body as a dict: a form, or a JSON object (Intuit's revoke)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if "json" in (self.headers.get("Content-Type") or "") or raw.lstrip().startswith("{"):
            try:
                parsed = json.loads(raw)
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        return dict(parse_qsl(raw, keep_blank_values=True))

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json",
              headers: Mapping[str, str] | None = None) -> None:
        """Record the request (before answering, so a client sees it logged) and send the response."""
        path, query, form, style = self._context
        self.provider._record(self.command, path, query, form, style, status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, err: OAuthError) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="sandbox"'} if err.status == 401 else None
        self._send(err.status, _json({"error": err.error, "error_description": err.description}),
                   headers=headers)

    def do_GET(self) -> None:
        path, query = self._split()
        self._context = (path, query, {}, "none")
        if path == "/authorize" and self.provider.behaviour.consent_page:
            self._consent(query)
        elif path == "/authorize":
            self._authorize(query)
        elif path == "/.well-known/oauth-authorization-server" or (
            path == "/.well-known/openid-configuration" and self.provider.behaviour.openid_configuration
        ):
            self._send(200, _json(metadata(self.provider)))
        elif path == "/api/me":
            self._api()
        else:
            self._send(404, _json({"error": "not_found"}))

    def do_POST(self) -> None:
        path, query = self._split()
        form = self._body()
        self._context = (path, query, form, auth_style(self.authorization, form))
        if path == "/authorize":  # the consent page's form: Approve or Deny
            decision = form.pop("decision", "")
            self._authorize(form, denied=decision != "approve")
        elif path == "/token":
            self._token(form, query)
        elif path in ("/revoke", "/introspect"):
            self._revoke_or_introspect(path, form, query)
        else:
            self._send(404, _json({"error": "not_found"}))

    def _consent(self, query: dict[str, str]) -> None:
        """An HTML page asking the user to approve the client (a browser test clicks Approve or Deny)."""
        from html import escape

        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in query.items())
        client = escape(query.get("client_id", ""))
        body = (
            "<!doctype html><html><head><meta charset=utf-8><title>Sandbox consent</title></head><body>"
            f"<h1>Authorize {client}</h1><p id=scope>Scope: {escape(query.get('scope', ''))}</p>"
            f'<form method="post" action="/authorize">{hidden}'
            '<button id="approve" name="decision" value="approve">Approve</button> '
            '<button id="deny" name="decision" value="deny">Deny</button></form></body></html>'
        ).encode()
        self._send(200, body, "text/html; charset=utf-8")

    def _authorize(self, query: dict[str, str], denied: bool = False) -> None:
        params = self.provider._authorize(query, denied=denied)
        if params is None:
            self._send(400, b"unknown client_id or missing redirect_uri", "text/plain")
            return
        parts = urlsplit(query["redirect_uri"])
        merged = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
        status = 303 if self.command == "POST" else 302
        self._send(status, b"", "text/plain", {"Location": urlunsplit(parts._replace(query=merged))})

    def _token(self, form: dict[str, str], query: dict[str, str]) -> None:
        p = self.provider
        latency = p._count_token_request(form)
        if latency > 0 and p._stopping.wait(latency):
            self._error(OAuthError("temporarily_unavailable", "shutting down", 503))
            return
        mode = p._take_failure()
        if mode is not None:
            self._fail(mode)
            return
        try:
            client_id, _ = p._authenticate_client(self.authorization, form, query)
            body = p._token(form.get("grant_type"), form, client_id)
        except OAuthError as err:
            self._error(err)
            return
        self._send(200, _json(body))

    def _fail(self, mode: str) -> None:
        behaviour = self.provider.behaviour
        if mode == "500":
            self._send(500, b"<html>Internal Server Error</html>", "text/html")
        elif mode == "429":
            retry = {"Retry-After": str(behaviour.retry_after)}
            self._send(429, _json({"error": "rate_limited"}), headers=retry)
        elif mode == "hang":
            self.provider._stopping.wait(behaviour.hang_seconds)
            self._send(503, _json({"error": "temporarily_unavailable"}))
        elif mode == "malformed":
            self._send(200, b'{"access_token": "abc", "token_type": ')
        elif mode == "missing_access_token":
            self._send(200, _json({"token_type": "bearer", "expires_in": 3600}))
        elif mode == "invalid_client":
            self._error(OAuthError("invalid_client", "client authentication failed", 401))
        else:
            self._error(OAuthError("invalid_grant", "the grant is invalid, expired or revoked"))

    def _revoke_or_introspect(self, path: str, form: dict[str, str], query: dict[str, str]) -> None:
        p = self.provider
        try:
            p._authenticate_client(self.authorization, form, query)
        except OAuthError as err:
            self._error(err)
            return
        token = form.get("token", "")
        if path == "/revoke":
            p.revoke(token)
            self._send(200, b"", "text/plain")
        else:
            self._send(200, _json(p.introspect(token)))

    def _api(self) -> None:
        header = self.authorization
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        info, unauthorized = self.provider._resource(token)
        if info is not None:
            self._send(200, _json({"client_id": info["client_id"], "scope": info["scope"]}))
            return
        challenge = 'Bearer realm="sandbox", error="invalid_token"' if token else 'Bearer realm="sandbox"'
        self._send(401, _json(unauthorized), headers={"WWW-Authenticate": challenge})
