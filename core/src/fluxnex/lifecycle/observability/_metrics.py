"""The process's metrics: cheap thread-safe counters on the hot paths, Prometheus text rendered on scrape.

Counting never imports ``prometheus_client`` (a refresh adds to a dict under a lock); ``render_metrics`` builds
the exposition from these counters and from a few cheap reads of the manager's database at scrape time:
connections by status (the trigger-kept counts ``fluxnex status`` reads), the due backlog (an index range of
``ix_connection_due``), the undispatched events, the webhook queue and the pool.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from fluxnex.storage.store import ConnectionStore

__all__ = ["DURATION_BUCKETS", "METRICS", "METRIC_NAMES", "Metrics", "StoreSource", "render_metrics"]


class StoreSource(Protocol):
    """Something with a connection store (a ``CredentialManager``): the gauges read the database through it."""

    @property
    def store(self) -> ConnectionStore:
        """The connection store (its engine holds the outbox tables too)."""

#: Upper bounds (seconds) of the refresh duration histogram's buckets.
DURATION_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

#: Every metric this module exposes, with its type and help (docs/operations.md lists the same names).
METRIC_NAMES: Final = {
    "fluxnex_refreshes_total": ("counter", "Token refreshes by credential type and outcome."),
    "fluxnex_refresh_duration_seconds": ("histogram", "Time from calling the provider to the outcome."),
    "fluxnex_refresh_due_backlog": ("gauge", "Connections due for refresh now and not leased (claimable)."),
    "fluxnex_connections": ("gauge", "Connections by status (from the trigger-kept counts)."),
    "fluxnex_lease_takeovers_total": ("counter", "Refresh leases taken over from a silent owner."),
    "fluxnex_worker_cycles_total": ("counter", "Refresh worker cycles completed."),
    "fluxnex_webhook_deliveries_total": ("counter", "Webhook delivery attempts by outcome."),
    "fluxnex_webhook_delivery_age_seconds": ("histogram", "Seconds from queueing to an attempt's outcome."),
    "fluxnex_webhook_queue_pending": ("gauge", "Webhook deliveries pending (due now or retrying later)."),
    "fluxnex_webhook_queue_oldest_age_seconds": ("gauge", "Age of the oldest pending webhook delivery."),
    "fluxnex_events_undispatched": ("gauge", "Outbox events not yet handed to hooks and webhooks."),
    "fluxnex_db_pool_size": ("gauge", "Database connections the process's pool may hold."),
    "fluxnex_db_pool_checked_out": ("gauge", "Database connections in use now."),
}
_AGE_BUCKETS: Final = (1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 7200.0, 36000.0, 86400.0, 172800.0)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


class Metrics:
    """Counters of one process (``METRICS``); every method is thread-safe and cheap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refreshes: Counter[tuple[str, str]] = Counter()
        self.durations: dict[str, _Histogram] = {}
        self.deliveries: Counter[str] = Counter()
        self.delivery_age = _Histogram(_AGE_BUCKETS)
        self.lease_takeovers = 0
        self.cycles = 0
        self.last_cycle: float | None = None

    def refresh(self, type_name: str, outcome: str, seconds: float) -> None:
        """Count one refresh of ``type_name`` ending in ``outcome`` after ``seconds``."""
        with self._lock:
            self.refreshes[(type_name, outcome)] += 1
            histogram = self.durations.get(type_name)
            if histogram is None:
                histogram = self.durations[type_name] = _Histogram(DURATION_BUCKETS)
            histogram.observe(seconds)

    def takeover(self, n: int = 1) -> None:
        """Count leases taken over from a silent owner."""
        with self._lock:
            self.lease_takeovers += n

    def delivery(self, outcome: str, age: float) -> None:
        """Count one webhook attempt's ``outcome``, ``age`` seconds after its delivery was queued."""
        with self._lock:
            self.deliveries[outcome] += 1
            self.delivery_age.observe(age)

    def cycle(self) -> None:
        """Count one completed worker cycle (``/healthz`` reads when the last one ended)."""
        with self._lock:
            self.cycles += 1
            self.last_cycle = time.monotonic()

    def families(self, manager: StoreSource | None) -> Iterator[Any]:
        """The metric families of ``prometheus_client`` for this process (and ``manager``'s database)."""
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        def doc(name: str) -> str:
            return METRIC_NAMES[name][1]

        with self._lock:
            refreshes = dict(self.refreshes)
            durations = {t: (h.cumulative(), h.total) for t, h in self.durations.items()}
            deliveries = dict(self.deliveries)
            age = (self.delivery_age.cumulative(), self.delivery_age.total)
            takeovers, cycles = self.lease_takeovers, self.cycles
        family = CounterMetricFamily("fluxnex_refreshes", doc("fluxnex_refreshes_total"), labels=["type", "outcome"])
        for (type_name, outcome), n in sorted(refreshes.items()):
            family.add_metric([type_name, outcome], n)
        yield family
        histogram = HistogramMetricFamily("fluxnex_refresh_duration_seconds",
                                          doc("fluxnex_refresh_duration_seconds"), labels=["type"])  # fmt: skip
        for type_name, (buckets, total) in sorted(durations.items()):
            histogram.add_metric([type_name], buckets, total)
        yield histogram
        if manager is not None:
            takeovers += int(getattr(manager.store, "lease_takeovers", 0))
        yield CounterMetricFamily("fluxnex_lease_takeovers", doc("fluxnex_lease_takeovers_total"), value=takeovers)
        yield CounterMetricFamily("fluxnex_worker_cycles", doc("fluxnex_worker_cycles_total"), value=cycles)
        family = CounterMetricFamily("fluxnex_webhook_deliveries", doc("fluxnex_webhook_deliveries_total"),
                                     labels=["outcome"])  # fmt: skip
        for outcome in ("delivered", "retrying", "failed"):
            family.add_metric([outcome], deliveries.get(outcome, 0))
        yield family
        histogram = HistogramMetricFamily("fluxnex_webhook_delivery_age_seconds",
                                          doc("fluxnex_webhook_delivery_age_seconds"))  # fmt: skip
        histogram.add_metric([], age[0], age[1])
        yield histogram
        if manager is not None:
            yield from _database_families(manager, doc)


def _database_families(manager: StoreSource, doc: Any) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    from fluxnex.storage.store._webhooks import WebhookStore

    store = manager.store
    family = GaugeMetricFamily("fluxnex_connections", doc("fluxnex_connections"), labels=["status"])
    for status, n in sorted(store.count_by_status().items(), key=lambda item: item[0].value):
        family.add_metric([status.value], n)
    yield family
    yield GaugeMetricFamily("fluxnex_refresh_due_backlog", doc("fluxnex_refresh_due_backlog"),
                            value=due_backlog(manager))  # fmt: skip
    hooks = WebhookStore(store.engine)
    pending, oldest = hooks.queue_stats(dt.datetime.now(dt.UTC))
    yield GaugeMetricFamily("fluxnex_webhook_queue_pending", doc("fluxnex_webhook_queue_pending"), value=pending)
    yield GaugeMetricFamily("fluxnex_webhook_queue_oldest_age_seconds",
                            doc("fluxnex_webhook_queue_oldest_age_seconds"), value=oldest)  # fmt: skip
    yield GaugeMetricFamily("fluxnex_events_undispatched", doc("fluxnex_events_undispatched"),
                            value=hooks.undispatched())  # fmt: skip
    pool: Any = store.engine.pool
    yield GaugeMetricFamily("fluxnex_db_pool_size", doc("fluxnex_db_pool_size"), value=pool.size())
    yield GaugeMetricFamily("fluxnex_db_pool_checked_out", doc("fluxnex_db_pool_checked_out"),
                            value=pool.checkedout())  # fmt: skip


def due_backlog(manager: StoreSource) -> int:
    """Connections claimable now (due, unleased, not backing off): what the worker's next claim could take."""
    import sqlalchemy as sa

    from fluxnex.storage.store._models import CLAIMABLE_SQL, UTCDateTime

    sql = sa.text(
        f"SELECT count(*) FROM connection WHERE {CLAIMABLE_SQL} AND refresh_at <= :now"  # noqa: S608 - fixed text
        " AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < :now)"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= :now)"
    ).bindparams(sa.bindparam("now", dt.datetime.now(dt.UTC), type_=UTCDateTime()))
    with manager.store.engine.connect() as conn:
        return int(conn.execute(sql).scalar_one())


#: The process's counters (the coordinator, the worker and the event delivery add to it).
METRICS: Final = Metrics()


def render_metrics(manager: StoreSource | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition of this process's metrics and ``manager``'s database: (body, content type).

    The connect service mounts this at its ``/metrics``; ``fluxnex worker --metrics-port`` serves it.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from prometheus_client.registry import CollectorRegistry

    class _Collector:
        def collect(self) -> Iterator[Any]:
            return METRICS.families(manager)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
