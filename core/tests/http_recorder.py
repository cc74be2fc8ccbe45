"""A local HTTP server that records every request, for tests that send through a real session."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

__all__ = ["RecordingServer", "ToLocal", "server"]


class RecordingServer:
    """A local HTTP server recording every request; ``answers[path] = (status, json)``, ``headers[path]``: more
    response headers (a ``Location``, a ``Set-Cookie``). ``seen`` holds each request's method, path, headers
    (a dict, and ``items``: the lines in the order sent) and body."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.answers: dict[str, tuple[int, Any]] = {}
        self.raw: dict[str, str] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.gate = threading.Event()
        self.gate.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                   "items": list(self.headers.items()), "body": body})
                outer.gate.wait(5)
                status, payload = outer.answers.get(urlsplit(self.path).path, (200, {"ok": True}))
                raw = outer.raw.get(urlsplit(self.path).path)
                data = raw.encode() if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in outer.headers.get(urlsplit(self.path).path, {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    yield srv
    srv.close()


class ToLocal(requests.adapters.HTTPAdapter):
    """Sends every request to the local server instead (the token hosts of these types are fixed)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)
