"""``fluxnex worker --metrics-port``: ``/metrics`` (Prometheus text) and ``/healthz`` on a small threaded server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from fluxnex.lifecycle.observability._metrics import METRICS, render_metrics

if TYPE_CHECKING:
    from fluxnex.lifecycle.observability._metrics import StoreSource

__all__ = ["MetricsServer", "health"]


def health(manager: StoreSource, max_cycle_age: float) -> tuple[bool, dict[str, Any]]:
    """Healthy when the database answers and (once a cycle ran) the last worker cycle ended recently."""
    import sqlalchemy as sa

    report: dict[str, Any] = {}
    try:
        with manager.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        report["database"] = "ok"
    except Exception as exc:
        report["database"] = type(exc).__name__
    last = METRICS.last_cycle
    report["last_cycle_seconds_ago"] = None if last is None else round(time.monotonic() - last, 3)
    stale = last is not None and time.monotonic() - last > max_cycle_age
    if stale:
        report["worker"] = f"no cycle ended in the last {max_cycle_age:.0f}s"
    ok = report["database"] == "ok" and not stale
    report["status"] = "ok" if ok else "unhealthy"
    return ok, report


class MetricsServer:
    """Serves ``/metrics`` and ``/healthz`` for one manager on ``host:port`` (port 0: any free port)."""

    def __init__(
        self, manager: StoreSource, port: int, host: str = "127.0.0.1", max_cycle_age: float = 300.0,
        render: Callable[[], tuple[bytes, str]] | None = None,
    ) -> None:
        owner = self
        self.manager, self.max_cycle_age = manager, max_cycle_age
        self._render = render or (lambda: render_metrics(manager))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, content_type = owner._render()
                    self._answer(200, body, content_type)
                elif path == "/healthz":
                    ok, report = health(owner.manager, owner.max_cycle_age)
                    self._answer(200 if ok else 503, json.dumps(report).encode(), "application/json")
                else:
                    self._answer(404, b"not found: try /metrics or /healthz\n", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fluxnex-metrics", daemon=True)

    @property
    def port(self) -> int:
        """The port served (the one chosen when 0 was asked)."""
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        """Serve on a daemon thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
