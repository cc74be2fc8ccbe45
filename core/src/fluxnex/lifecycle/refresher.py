"""``RefreshWorker``: refreshes OAuth2 tokens before they expire, in batches, concurrently, across processes.

A cycle claims the connections that expire within the horizon (``ConnectionStore.claim_due``: a lease on each
row, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers on any number of hosts share the work
and never claim the same row) and refreshes them on a thread pool through the coordinator's exactly-once
protocol (``RefreshCoordinator.refresh_leased``). It keeps claiming until nothing due is left.

- Concurrency: a refresh is almost all waiting on the provider's HTTP answer, so threads are cheap; the
  default of 32 allows 320 refreshes a second against a provider answering in 100 ms (``benchmarks/
  bench_worker.py`` measures 200-250/s on two shared cores with the sandbox provider on the same machine,
  1,000 tokens in 4-5 s where one at a time takes 115 s). More threads add little once the CPU is busy and
  would burst harder against providers' rate limits.
- One executor for the worker's whole life (``close()`` shuts it down; ``run_forever`` does at its end).
- Bounded queue: at most ``2 * concurrency`` claimed rows are queued or running; the lease heartbeat renews
  their leases from the claim on, so a queued row is not taken over. When a row's turn comes the current row
  is re-read: unless the lease is still this worker's at the claimed version and the token is still due
  (``fluxnex.lifecycle.tokens``), it is skipped (never refreshed twice per token generation).
- Recovery files (``fluxnex.lifecycle.recovery``) of this database are replayed at the start of every cycle.
- Jitter: the pause between cycles is ``interval`` times a random factor in ``[1 - jitter, 1 + jitter]``, so
  workers started together drift apart instead of hitting the database and the providers in lockstep. There is
  no per-refresh delay: the pool size already bounds the load on a provider, and per-connection retries are
  spread by the coordinator's jittered backoff (``next_attempt_at``, which ``claim_due`` honours).
- Failures: the coordinator records transient ones (backoff, ERROR once lapsed) and permanent ones (EXPIRED).
  Anything else (a plugin bug, undecryptable data, an unknown type) is recorded here the same way as a
  transient failure, with backoff, so a broken row is not retried every cycle.
- Keep-alive: once nothing more is due, idle connections of types with a keep-alive interval are claimed and
  refreshed under the same lease (``fluxnex.lifecycle.keep_alive``).
- Events: after each cycle the outbox is dispatched and the cycle's webhooks start on the event delivery's own
  threads (``fluxnex.lifecycle.events``); ``run_forever`` keeps delivering between cycles. A slow endpoint never
  holds a refresh thread.
- Stopping: ``stop()`` (the CLI calls it on SIGTERM/SIGINT) ends claiming; refreshes already running finish and
  claimed rows not yet started have their leases released; ``CredentialManager.close()`` then flushes results
  the database has not taken yet (to recovery files if it still refuses them).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs

from fluxnex.contract.errors import ConnectionExpired, FluxnexError, RefreshError
from fluxnex.lifecycle.keep_alive import KeepAlive
from fluxnex.lifecycle.observability._metrics import METRICS
from fluxnex.lifecycle.refresh import backoff_seconds
from fluxnex.storage.store import ConnectionRow, Status

if TYPE_CHECKING:
    from fluxnex.lifecycle.events import EventDelivery
    from fluxnex.lifecycle.refresh import RefreshCoordinator

__all__ = ["DEFAULT_CONCURRENCY", "CycleSummary", "RefreshSource", "RefreshWorker"]

_log = logging.getLogger("fluxnex.worker")
UTC = dt.UTC

#: Refreshes run at once: 1,000 tokens in 4-5 s from a provider answering in 100 ms (see the module docstring).
DEFAULT_CONCURRENCY: Final = 32

_REFRESHED: Final = "refreshed"
_FAILED: Final = "failed"
_EXPIRED: Final = "expired"
_RELEASED: Final = "released"
_SKIPPED: Final = "skipped"


@attrs.frozen
class CycleSummary:
    """What one cycle did: rows claimed, and how each claimed row ended."""

    started_at: dt.datetime
    claimed: int = 0
    refreshed: int = 0
    failed: int = 0
    expired: int = 0
    released: int = 0  # claimed but not started because the worker was stopping: lease given back
    skipped: int = 0  # lease lost before the refresh started (another worker took the row over)
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO timestamp, duration in seconds)."""
        out = attrs.asdict(self)
        out["started_at"] = self.started_at.isoformat()
        out["duration"] = round(self.duration, 3)
        return out

    def __str__(self) -> str:
        extra = "".join(f", {n} {k}" for k, n in (("released", self.released), ("skipped", self.skipped)) if n)
        return (
            f"claimed {self.claimed}: {self.refreshed} refreshed, {self.failed} failed, {self.expired} expired"
            f"{extra} in {self.duration:.2f}s"
        )


class RefreshSource(Protocol):
    """What a worker is given: the refresh coordinator, created on first use (a ``CredentialManager`` is one)."""

    @property
    def refresher(self) -> RefreshCoordinator:
        """The coordinator whose store, leases and protocol the worker uses."""


class RefreshWorker:
    """Refresh every connection whose token expires within ``horizon`` seconds, every ``interval`` seconds."""

    def __init__(
        self,
        manager: RefreshSource,
        *,
        interval: float = 30.0,
        horizon: float = 600.0,
        concurrency: int = DEFAULT_CONCURRENCY,
        batch_size: int = 100,
        jitter: float = 0.1,
        events: EventDelivery | bool = True,
        keep_alive: Mapping[str, float] | None = None,
    ) -> None:
        if interval < 0 or horizon < 0:
            raise FluxnexError("interval and horizon must not be negative")
        if concurrency < 1 or batch_size < 1:
            raise FluxnexError("concurrency and batch size must be at least 1")
        if not 0 <= jitter < 1:
            raise FluxnexError("jitter must be a fraction in [0, 1)")
        self._source = manager
        self.interval = interval
        self.horizon = horizon
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.jitter = jitter
        self._stop = threading.Event()
        self._stop_requested = False  # set by stop() before the event is (see stop())
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        #: Outbox dispatch and webhook delivery (``fluxnex.lifecycle.events``), on threads of their own; None: off.
        self.events: EventDelivery | None = None if isinstance(events, bool) else events
        if events is True:
            from fluxnex.lifecycle.events import EventDelivery, source_of

            self.events = EventDelivery(source_of(self.coordinator))
        #: Idle connections refreshed before their refresh token goes stale (``fluxnex.lifecycle.keep_alive``).
        self.keep_alive = KeepAlive(self.coordinator.store, self.coordinator.registry, keep_alive)
        self._idle: set[uuid.UUID] = set()

    def __repr__(self) -> str:
        return (
            f"RefreshWorker(interval={self.interval}, horizon={self.horizon}, concurrency={self.concurrency}, "
            f"batch_size={self.batch_size}, owner={self.owner!r})"
        )

    @property
    def coordinator(self) -> RefreshCoordinator:
        """The refresh coordinator (the source's, created on first use): the store, the leases, the protocol."""
        return self._source.refresher

    @property
    def owner(self) -> str:
        """The lease owner id of this process (the coordinator's)."""
        return self.coordinator.owner

    @property
    def lease_seconds(self) -> float:
        """How long a claim holds a row."""
        return self.coordinator.lease_seconds

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called."""
        return self._stop_requested  # stop() sets it before the event: the event is never set without it

    def stop(self) -> None:
        """Stop claiming; running refreshes finish, claimed rows not started are released (signal-safe).

        Safe from a signal handler: the handler runs on the main thread, which the signal may have interrupted
        inside ``Event.wait`` while it holds the event's (non-reentrant) lock, so ``Event.set`` there could wait
        for itself forever. A plain flag is set at once and the event on a short-lived thread of its own.
        """
        self._stop_requested = True
        try:
            threading.Thread(target=self._stop.set, name="fluxnex-worker-stop", daemon=True).start()
        except RuntimeError:  # no new threads at interpreter shutdown: nothing can be waiting on the lock then
            self._stop.set()

    def close(self) -> None:
        """Shut the executor down (waiting for running refreshes); ``run_once`` makes a new one if called again."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if self.events is not None:
            self.events.close()

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="fluxnex-refresh")
            return self._executor

    # -- cycles ----------------------------------------------------------------------------------------

    def run_forever(self, on_cycle: Callable[[CycleSummary], object] | None = None) -> None:
        """Run cycles until ``stop()``, pausing a jittered ``interval`` between them; a failed cycle is logged."""
        if self.events is not None:
            self.events.start()  # retries and new events between cycles too
        try:
            while not self.stopping:
                try:
                    summary = self.run_once()
                except Exception as exc:
                    _log.error("worker cycle failed: %s: %s", type(exc).__name__, _first_line(exc))
                else:
                    if on_cycle is not None:
                        on_cycle(summary)
                if self._stop.wait(self.next_pause()):
                    break
        finally:
            self.close()

    def next_pause(self) -> float:
        """Seconds to wait before the next cycle: ``interval`` with jitter."""
        return self.interval * random.uniform(1 - self.jitter, 1 + self.jitter)

    def run_once(self) -> CycleSummary:
        """Claim and refresh everything due now, batch after batch, until nothing due is left or stopping."""
        started_at = dt.datetime.now(UTC)
        started = time.monotonic()
        counts: Counter[str] = Counter()
        seen: set[uuid.UUID] = set()
        pending: set[Future[str | ConnectionRow]] = set()
        returned: dict[uuid.UUID, int] = {}  # rows whose refresh returned normally -> failures at claim time
        window = 2 * self.concurrency
        exhausted = False
        self._replay()
        pool = self._pool()
        heartbeat = self.coordinator.heartbeat
        while True:
            if not exhausted and not self.stopping and len(pending) <= self.concurrency:
                limit = min(self.batch_size, window - len(pending))
                rows = self._claim(limit)
                fresh = [row for row in rows if row.id not in seen]
                for row in rows:
                    if row.id in seen:  # refreshed this cycle and due again (token lifetime < horizon)
                        self.coordinator.store.release_lease(row.id, self.owner)
                exhausted = len(rows) < limit or not fresh
                heartbeat.add(row.id for row in fresh)
                apps = self._apps(fresh)
                for row in fresh:
                    seen.add(row.id)
                    pending.add(pool.submit(self._refresh_one, row, apps.get(row.id)))
                counts["claimed"] += len(fresh)
            if not pending:
                break
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                if isinstance(outcome, ConnectionRow):
                    returned[outcome.id] = outcome.refresh_failures
                else:
                    counts[outcome] += 1
        failed = self._failed_meanwhile(returned)
        counts[_FAILED] += failed
        counts[_REFRESHED] += len(returned) - failed
        summary = CycleSummary(
            started_at=started_at,
            claimed=counts["claimed"],
            refreshed=counts[_REFRESHED],
            failed=counts[_FAILED],
            expired=counts[_EXPIRED],
            released=counts[_RELEASED],
            skipped=counts[_SKIPPED],
            duration=time.monotonic() - started,
        )
        _log.info(
            "cycle claimed=%d refreshed=%d failed=%d expired=%d released=%d skipped=%d duration_ms=%d",
            summary.claimed,
            summary.refreshed,
            summary.failed,
            summary.expired,
            summary.released,
            summary.skipped,
            summary.duration * 1000,
        )
        if self.events is not None:
            self.events.after_cycle()
        METRICS.cycle()
        return summary

    def _replay(self) -> None:
        try:
            self.coordinator.replay_recoveries()
        except Exception as exc:
            _log.error("replaying recovery files failed: %s: %s", type(exc).__name__, _first_line(exc))

    def _claim(self, limit: int) -> list[ConnectionRow]:
        now = dt.datetime.now(UTC)
        rows = self.coordinator.store.claim_due(
            horizon_until=now + dt.timedelta(seconds=self.horizon),
            owner=self.owner,
            lease_seconds=self.lease_seconds,
            limit=limit,
            now=now,
        )
        if len(rows) < limit:  # nothing more is due: idle connections whose refresh token would go stale
            try:
                idle = self.keep_alive.claim(self.owner, self.lease_seconds, limit - len(rows), now)
            except Exception as exc:
                _log.error("keep-alive claim failed: %s: %s", type(exc).__name__, _first_line(exc))
                idle = []
            self._idle.update(row.id for row in idle)
            rows += idle
        return rows

    # -- one row (runs on a pool thread) -----------------------------------------------------------------

    def _apps(self, rows: list[ConnectionRow]) -> dict[uuid.UUID, dict[str, Any]]:
        """The OAuth app settings of a claimed batch in one query; if that fails, each refresh reads its own."""
        if not rows:
            return {}
        try:
            return self.coordinator.apps_of(rows)
        except Exception as exc:
            _log.error("reading OAuth apps failed: %s: %s", type(exc).__name__, _first_line(exc))
            return {}

    def _refresh_one(self, row: ConnectionRow, app: dict[str, Any] | None = None) -> str | ConnectionRow:
        """Refresh one claimed row; an outcome name, or the row when the refresh returned normally."""
        try:
            return self._refresh_claimed(row, app)
        finally:
            self.coordinator.heartbeat.discard(row.id)

    def _refresh_claimed(self, row: ConnectionRow, app: dict[str, Any] | None) -> str | ConnectionRow:
        store = self.coordinator.store
        if self.stopping:
            store.release_lease(row.id, self.owner)
            return _RELEASED
        idle = row.id in self._idle
        self._idle.discard(row.id)
        if idle:
            _log.info("refresh connection=%s type=%s reason=keep_alive", row.id, row.type)
        try:  # an idle (keep-alive) row is refreshed although its access token is not due
            if self.coordinator.refresh_leased(row, horizon=None if idle else self.horizon, app=app) is None:
                _log.info("refresh connection=%s: no longer due or no longer ours; skipped", row.id)
                return _SKIPPED
        except ConnectionExpired:
            return _EXPIRED
        except RefreshError:
            return _FAILED
        except Exception as exc:
            self._record_unexpected(row, exc)
            return _FAILED
        return row

    def _failed_meanwhile(self, returned: dict[uuid.UUID, int]) -> int:
        """How many of ``returned`` recorded a failure: one query per 500 rows, not one per refresh.

        The coordinator returns the current data without raising after a transient failure while the token is
        still valid; the row's failure counter, bumped by that failure, tells it apart from a success.
        """
        ids = list(returned)
        failures: dict[uuid.UUID, int] = {}
        for start in range(0, len(ids), 500):
            failures.update(self.coordinator.store.refresh_failures_of(ids[start : start + 500]))
        failed = sum(1 for cid, n in failures.items() if n > returned[cid])
        return failed

    def _record_unexpected(self, row: ConnectionRow, exc: Exception) -> None:
        """Record a failure the coordinator did not (not a ``RefreshError``) with backoff, like a transient one."""
        reason = f"{type(exc).__name__}: {_first_line(exc)}" if isinstance(exc, FluxnexError) else type(exc).__name__
        failures = row.refresh_failures + 1
        _log.warning(
            "refresh connection=%s type=%s outcome=error failures=%d error=%s", row.id, row.type, failures, reason
        )
        store = self.coordinator.store
        try:
            leased = store.acquire_lease(row.id, self.owner, self.lease_seconds)
            if leased is None:
                return
            if leased.version != row.version:  # somebody else wrote meanwhile: leave their result alone
                store.release_lease(row.id, self.owner)
                return
            now = dt.datetime.now(UTC)
            lapsed = leased.expires_at is None or leased.expires_at <= now
            store.complete_lease(
                row.id,
                self.owner,
                leased.version,
                status=Status.ERROR.value if lapsed else leased.status.value,
                refresh_failures=failures,
                last_error=reason[:500],
                next_attempt_at=now + dt.timedelta(seconds=backoff_seconds(failures)),
            )
        except Exception as write_error:
            _log.error("refresh connection=%s: recording the failure failed: %s", row.id, type(write_error).__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
