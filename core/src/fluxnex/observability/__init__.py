"""Metrics and health: counters kept by the lifecycle, Prometheus text on scrape, ``/healthz``.

``render_metrics(manager)`` returns ``(body, content_type)`` for any HTTP framework (the connect service mounts it
at ``/metrics``); ``fluxnex worker --metrics-port`` serves it with ``MetricsServer``. Metric names are listed in
``METRIC_NAMES`` and in docs/operations.md. Names load on first use (PEP 562): counting imports no HTTP server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._metrics import METRIC_NAMES, METRICS, Metrics, render_metrics
    from ._server import MetricsServer, health

_LAZY = {
    "METRICS": "._metrics", "METRIC_NAMES": "._metrics", "Metrics": "._metrics", "render_metrics": "._metrics",
    "MetricsServer": "._server", "health": "._server",
}  # fmt: skip

__all__ = ["METRICS", "METRIC_NAMES", "Metrics", "MetricsServer", "health", "render_metrics"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fluxnex.observability' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
