"""``EventDelivery``: hands outbox events to the ``connection_event`` hook and delivers them as signed webhooks.

One step (``pump``) does two things:

1. Dispatch: claim undispatched events (a lease, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), call the
   ``connection_event`` hook for each, queue one delivery per subscribed endpoint and mark the events
   dispatched, in one transaction. The hook is at-least-once: a process killed between the hook call and that
   commit leaves the lease to lapse, and the next dispatcher calls the hook again for the same event (same
   ``event.id``). A hook that raises is logged and not retried.
2. Deliver: claim due deliveries (a lease on each row, exclusive across workers) and POST them on a bounded
   thread pool of their own, at most ``per_endpoint`` at a time to one endpoint, each with an overall deadline
   (``timeout``): a slow or failing endpoint holds at most ``per_endpoint`` threads and never delays refreshes
   (another pool) or other endpoints. A 2xx answer marks the delivery DELIVERED (never sent again); anything
   else is retried after ``RETRY_SCHEDULE`` (with jitter, about 27 hours in all), then marked FAILED. Every
   attempt of an event carries the same ``webhook-id``; the ``webhook-timestamp`` is the attempt's, as the
   Standard Webhooks specification asks. A worker killed mid-delivery leaves its lease to lapse
   (``timeout`` + ``LEASE_MARGIN``) and the delivery is sent again by the next claim: at-least-once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from fluxnex.lifecycle.events._endpoints import endpoint_secret
from fluxnex.lifecycle.events._signing import headers
from fluxnex.lifecycle.observability._metrics import METRICS
from fluxnex.storage.store._outbox import Event
from fluxnex.storage.store._webhooks import Delivery, Endpoint, WebhookStore

if TYPE_CHECKING:
    import requests

    from fluxnex.lifecycle.events._source import EventSource

__all__ = ["LEASE_MARGIN", "RETRY_SCHEDULE", "EventDelivery", "retry_delay"]

_log = logging.getLogger("fluxnex.events")

#: Seconds to wait after the 1st, 2nd, ... failed attempt (Standard Webhooks' reference schedule): 8 attempts over
#: about 27.6 hours, then FAILED.
RETRY_SCHEDULE: Final = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
#: Each delay is multiplied by a random factor in [1 - JITTER, 1 + JITTER].
JITTER: Final = 0.2
#: A delivery lease outlives the request deadline by this much (a killed worker's deliveries wait this long).
LEASE_MARGIN: Final = 5.0
#: ``connection.reconnect_soon`` is written once a refresh token lapses within this many seconds (14 days).
RECONNECT_WARNING: Final = 14 * 86400.0
#: Dispatched events whose deliveries are settled are deleted after this many seconds (7 days).
RETENTION: Final = 7 * 86400.0
#: The reconnect sweep and the pruning run at most this often (seconds).
SWEEP_EVERY: Final = 60.0
DELIVERED, RETRYING, FAILED = "delivered", "retrying", "failed"


def retry_delay(
    failed: int, schedule: Sequence[float] = RETRY_SCHEDULE, rand: random.Random | None = None
) -> float | None:
    """Seconds before the next attempt once ``failed`` attempts failed; None when the schedule is over."""
    if failed < 1 or failed > len(schedule):
        return None
    factor = (rand or random).uniform(1 - JITTER, 1 + JITTER)
    return schedule[failed - 1] * factor


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EventDelivery:
    """Dispatches and delivers the events of one database (see the module docstring)."""

    def __init__(
        self,
        source: EventSource,
        *,
        concurrency: int = 8,
        per_endpoint: int = 2,
        timeout: float = 10.0,
        schedule: Sequence[float] = RETRY_SCHEDULE,
        clock: Callable[[], dt.datetime] = _utcnow,
        owner: str | None = None,
        poll: float = 1.0,
        batch_size: int = 100,
        on_outcome: Callable[[str, float], object] | None = None,
        reconnect_warning: float = RECONNECT_WARNING,
        retention: float = RETENTION,
    ) -> None:
        from fluxnex.lifecycle.refresh import process_owner

        if concurrency < 1 or per_endpoint < 1 or timeout <= 0:
            raise ValueError("concurrency and per_endpoint must be at least 1, timeout positive")
        self.source = source
        self.store = WebhookStore(source.store.engine)
        self.concurrency, self.per_endpoint, self.timeout = concurrency, per_endpoint, timeout
        self.schedule = tuple(schedule)
        self.clock = clock
        self.owner = owner or process_owner()
        self.poll, self.batch_size = poll, batch_size
        self.lease_seconds = timeout + LEASE_MARGIN
        self.on_outcome = on_outcome or METRICS.delivery
        self.reconnect_warning, self.retention = reconnect_warning, retention
        self._swept_at: float | None = None
        self._lock = threading.Lock()
        self._inflight: dict[uuid.UUID, int] = {}
        self._futures: set[Future[None]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._http: requests.Session | None = None
        self._secrets: dict[uuid.UUID, str] = {}
        self._wake = threading.Event()
        self._dispatch_now = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"EventDelivery(concurrency={self.concurrency}, per_endpoint={self.per_endpoint}, owner={self.owner!r})"

    # -- dispatch ------------------------------------------------------------------------------------

    def sweep(self, *, force: bool = False) -> int:
        """Write ``connection.reconnect_soon`` for refresh tokens lapsing within the warning window (once per
        connection and refresh token) and prune settled old events; at most every ``SWEEP_EVERY`` seconds."""
        if not force and self._swept_at is not None and time.monotonic() - self._swept_at < SWEEP_EVERY:
            return 0
        self._swept_at = time.monotonic()
        now = self.clock()
        warned = 0
        while True:
            n = self.store.warn_reconnect_soon(now + dt.timedelta(seconds=self.reconnect_warning), 500, now)
            warned += n
            if n < 500:
                break
        self.store.prune(now - dt.timedelta(seconds=self.retention))
        return warned

    def dispatch(self) -> int:
        """Hand every undispatched event to the hook and queue its deliveries; how many events."""
        total = 0
        while not self._stop.is_set():
            now = self.clock()
            events = self.store.claim_events(self.owner, self.lease_seconds + 30, self.batch_size, now)
            if not events:
                return total
            endpoints = self.store.endpoints()
            for event in events:
                self._call_hook(event)
            targets = {e.seq: [p.id for p in endpoints if p.wants(e)] for e in events}
            self.store.dispatch(events, targets, self.owner, self.clock())
            total += len(events)
        return total

    def _call_hook(self, event: Event) -> None:
        try:
            self.source.registry.hook.connection_event(event=event)
        except Exception as exc:  # a listener's bug must not stop the others' events
            _log.error("connection_event hook failed for event %s (%s): %s", event.id, event.type, type(exc).__name__)

    # -- delivery ------------------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="fluxnex-webhook")
        return self._executor

    def _session(self) -> requests.Session:
        if self._http is None:
            from fluxnex.lifecycle._http import provider_session

            self._http = provider_session(self.timeout)
        return self._http

    def deliver_due(self) -> int:
        """Claim due deliveries while threads are free and start them; how many were started."""
        started = 0
        while not self._stop.is_set():
            with self._lock:
                free = self.concurrency - sum(self._inflight.values())
                full = [e for e, n in self._inflight.items() if n >= self.per_endpoint]
            if free <= 0:
                return started
            claimed = self.store.claim_deliveries(self.owner, self.lease_seconds, free, self.clock(), full)
            if not claimed:
                return started
            excess = []
            with self._lock:
                for delivery in claimed:
                    key = delivery.endpoint.id
                    if self._inflight.get(key, 0) >= self.per_endpoint:
                        excess.append(delivery.id)  # given back now, not held while the endpoint is busy
                        continue
                    self._inflight[key] = self._inflight.get(key, 0) + 1
                    future = self._pool().submit(self._send, delivery)
                    self._futures.add(future)
                    future.add_done_callback(self._futures.discard)
                    started += 1
            self.store.release_deliveries(excess, self.owner)
            if excess:
                return started
        return started

    def _secret(self, endpoint: Endpoint) -> str:
        secret = self._secrets.get(endpoint.id)
        if secret is None:
            secret = self._secrets[endpoint.id] = endpoint_secret(self.source, endpoint)
        return secret

    def _send(self, delivery: Delivery) -> None:
        try:
            self._attempt(delivery)
        except Exception as exc:  # the outcome write failed: the lease lapses and the delivery is sent again
            _log.error("webhook delivery %d: recording the outcome failed: %s", delivery.id, type(exc).__name__)
        finally:
            with self._lock:
                key = delivery.endpoint.id
                self._inflight[key] -= 1
                if not self._inflight[key]:
                    del self._inflight[key]
            self._wake.set()

    def _attempt(self, delivery: Delivery) -> None:
        event, endpoint = delivery.event, delivery.endpoint
        body = event.body()
        stamp = int(time.time())  # the real send time (the clock only schedules): receivers check it
        code: int | None = None
        try:
            secret = self._secret(endpoint)
            response = self._session().post(
                endpoint.url, data=body, headers=headers(secret, event.webhook_id, stamp, body),
                timeout=self.timeout, allow_redirects=False, stream=True,  # the status is the answer: no body read
            )  # fmt: skip
            code = response.status_code
            response.close()
            error = "" if 200 <= code < 300 else f"HTTP {code}"
        except Exception as exc:  # never the message: requests' messages carry the URL
            error = type(exc).__name__
        now = self.clock()
        age = max(0.0, (now - delivery.created_at).total_seconds())
        if not error:
            assert code is not None
            self.store.delivered(delivery.id, self.owner, code, now)
            outcome = DELIVERED
        else:
            failed = delivery.attempts + 1
            delay = retry_delay(failed, self.schedule)
            next_at = None if delay is None else now + dt.timedelta(seconds=delay)
            self.store.attempt_failed(delivery.id, self.owner, next_attempt_at=next_at, status_code=code, error=error)
            outcome = RETRYING if next_at is not None else FAILED
            log = _log.warning if next_at is not None else _log.error
            log("webhook event=%s endpoint=%s attempt=%d outcome=%s error=%s", event.id, endpoint.id, failed,
                outcome, error)  # fmt: skip
        if self.on_outcome is not None:
            self.on_outcome(outcome, age)

    # -- running -------------------------------------------------------------------------------------

    def pump(self) -> tuple[int, int]:
        """One step: dispatch new events, start due deliveries; (events dispatched, deliveries started)."""
        return self.dispatch(), self.deliver_due()

    def idle(self) -> bool:
        """True when no delivery of this process is in flight."""
        with self._lock:
            return not self._inflight

    def drain(self, deadline: float = 60.0) -> None:
        """Pump until nothing is due and nothing is in flight (``--once``, tests); at most ``deadline`` seconds."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            self._wake.clear()
            dispatched, started = self.pump()
            if not dispatched and not started and self.idle():
                return
            self._wake.wait(0.05)

    def after_cycle(self) -> None:
        """The refresh worker's step after each cycle: the reconnect sweep, then dispatch and start deliveries
        (on the background thread when it runs, else here without waiting for an answer); failures are logged."""
        try:
            self.sweep()
            if self.running:
                self.wake()
            else:
                self.pump()
        except Exception as exc:
            _log.error("event dispatch failed: %s: %s", type(exc).__name__, str(exc).strip().splitlines()[:1])

    @property
    def running(self) -> bool:
        """True while the background thread (``start``) runs."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Dispatch and deliver now (the refresh worker calls it after each cycle)."""
        self._dispatch_now.set()
        self._wake.set()

    def start(self) -> None:
        """Run steps on a background thread until ``close()``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="fluxnex-events", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        """Dispatch at most every ``poll`` seconds (or when the worker's cycle ends); deliver on every wake-up
        (a finished request frees a thread), so a busy cycle's events are dispatched in batches, not one by one."""
        dispatched_at = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self._dispatch_now.is_set() or time.monotonic() - dispatched_at >= self.poll:
                    self._dispatch_now.clear()
                    dispatched_at = time.monotonic()
                    self.dispatch()
                self.deliver_due()
            except Exception as exc:
                _log.error("event delivery step failed: %s: %s", type(exc).__name__, str(exc).splitlines()[:1])
            self._wake.wait(self.poll)

    def close(self) -> None:
        """Stop: no new claims; deliveries in flight finish (within their deadline). A later ``pump`` or
        ``start`` begins again (like ``RefreshWorker.run_once`` after ``close``)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._http is not None:
            self._http.close()
        stuck = self._thread is not None and self._thread.is_alive()
        self._thread = self._executor = self._http = None
        if not stuck:  # a step still running past the join keeps seeing the stop
            self._stop.clear()

    def stats(self) -> dict[str, Any]:
        """Queue depth and the age of the oldest pending delivery (for metrics and ``fluxnex events list``)."""
        pending, age = self.store.queue_stats(self.clock())
        return {"pending": pending, "oldest_age_seconds": age}
