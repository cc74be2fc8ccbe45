"""Metrics and health: counters kept by the lifecycle, Prometheus text on scrape, ``/healthz``.

``render_metrics(manager)`` returns ``(body, content_type)`` for any HTTP framework (the connect service mounts it
at ``/metrics``); ``fluxnex worker --metrics-port`` serves it with ``MetricsServer``. Metric names are listed in
``METRIC_NAMES`` and in docs/operations.md. Names load on first use (PEP 562): counting imports no HTTP server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxnex.lifecycle.observability._metrics import METRIC_NAMES, METRICS, Metrics, render_metrics
    from fluxnex.lifecycle.observability._server import MetricsServer, health

_METRICS, _SERVER = "fluxnex.lifecycle.observability._metrics", "fluxnex.lifecycle.observability._server"
_LAZY = {
    "METRICS": _METRICS, "METRIC_NAMES": _METRICS, "Metrics": _METRICS, "render_metrics": _METRICS,
    "MetricsServer": _SERVER, "health": _SERVER,
}  # fmt: skip

__all__ = ["METRICS", "METRIC_NAMES", "Metrics", "MetricsServer", "health", "render_metrics"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fluxnex.lifecycle.observability' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
