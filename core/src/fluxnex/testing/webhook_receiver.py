"""A local webhook receiver for tests and benchmarks: a real HTTP server on 127.0.0.1 that records every request.

``WebhookReceiver(fail_first=2)`` answers 500 to the first two requests, then 204; ``delay`` makes every answer
slow; ``hold()`` makes requests wait until ``release()`` (to kill a worker mid-delivery). Requests are recorded as
they arrive (before the answer), with their headers and body.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import attrs

__all__ = ["ReceivedRequest", "WebhookReceiver"]


@attrs.frozen
class ReceivedRequest:
    """One request as it arrived: path, headers (lower-case names), body, and the status it was answered with."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class WebhookReceiver:
    """A threaded HTTP server recording webhook requests (see the module docstring)."""

    def __init__(self, *, fail_first: int = 0, fail_status: int = 500, delay: float = 0.0) -> None:
        self.fail_first, self.fail_status, self.delay = fail_first, fail_status, delay
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    n = len(receiver.requests)
                    status = receiver.fail_status if n < receiver.fail_first else 204
                    receiver.requests.append(ReceivedRequest(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body, status,
                    ))  # fmt: skip
                    receiver._arrived.notify_all()
                receiver._released.wait(60)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The receiver's URL (any path is accepted)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def start(self) -> Self:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def hold(self) -> None:
        """Keep requests waiting (unanswered) until ``release()``."""
        self._released.clear()

    def release(self) -> None:
        """Answer the waiting requests."""
        self._released.set()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedRequest]:
        """Wait until ``count`` requests arrived; all requests so far (AssertionError on timeout)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} webhook requests within {timeout}s, got {len(self.requests)}")
            return list(self.requests)

    def delivered(self) -> list[ReceivedRequest]:
        """The requests answered with a 2xx status."""
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]
