"""``ApiServer``: a tiny real HTTP API on 127.0.0.1 whose answers a test writes as a Python function.

Plugin tests use it for a provider's resource API (QuickBooks CompanyInfo, HubSpot account info), checking
the Bearer token against the :class:`~fluxnex.testing.sandbox.SandboxProvider` that issued it::

    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        ok = sandbox.is_active(request.bearer or "")
        return (200, {"ok": True}, {}) if ok else (401, {"error": "invalid_token"}, {})

    with ApiServer(answer) as api:
        requests.get(api.url + "/anything")
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import attrs

__all__ = ["ApiRequest", "ApiServer"]

Answer = tuple[int, Any, Mapping[str, str]]


@attrs.frozen
class ApiRequest:
    """One request the API received (the test decides what it may keep)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = attrs.field(repr=False)

    @property
    def bearer(self) -> str | None:
        """The Bearer token of the Authorization header, or None."""
        value = self.headers.get("authorization", "")
        return value[7:].strip() if value[:7].lower() == "bearer " else None


class ApiServer:
    """A threading HTTP server calling ``answer(request)`` for every request; a context manager."""

    def __init__(self, answer: Callable[[ApiRequest], Answer]) -> None:
        self.answer = answer
        self.received: list[ApiRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start serving on a free port (idempotent)."""
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            daemon=True, name="fluxnex-api-server")
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the API server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


def _handler(api: ApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # query strings may hold secrets
            return

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = ApiRequest(
                method=self.command, path=parts.path, query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            with api._lock:
                api.received.append(request)
            status, body, headers = api.answer(request)
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "text/plain")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler
