"""Exactly one refresh per expiry, across threads, processes and hosts.

1. In the process, a single flight per connection: the first caller refreshes, the others wait for its result.
2. Across processes, a lease on the row (``lease_owner`` + ``lease_until``, taken by compare-and-set): the
   holder calls the provider with no database transaction open, then writes the result and drops the lease in
   one statement that only matches while it is still the owner. Others poll with backoff until the row's
   version moves (the winner wrote) and read the winner's result. A lease left by a dead process is taken
   over once ``lease_until`` has passed; a holder that lost its lease never overwrites the newer data.
3. Persist first: the new data is written before it is returned. If the write fails (database briefly
   unavailable), it is retried with backoff in the background while the fresh token is handed to the caller;
   the pending write is never dropped silently (it logs every failed attempt).
4. Failures: a permanent one (``invalid_grant``, ``invalid_client``, revoked) marks the connection EXPIRED;
   a transient one (5xx, 429, timeouts, malformed responses) counts a failure, schedules the next attempt with
   backoff (honouring ``Retry-After``) and sets ERROR only once the access token has actually lapsed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final

from . import oauth2 as _oauth2  # noqa: F401 - loaded with the coordinator so a first refresh pays no import
from .errors import ConnectionNotFound, FluxnexError, NotRefreshable, RefreshError
from .manager import expired_error, refresh_token_expiry
from .store import ConnectionRow, Status

if TYPE_CHECKING:
    from .manager import CredentialManager

__all__ = ["RefreshCoordinator", "backoff_seconds", "process_owner"]

_log = logging.getLogger("fluxnex.refresh")
UTC = dt.UTC

_POLL_START: Final = 0.005
_POLL_MAX: Final = 0.025
_WRITE_ATTEMPTS_INLINE: Final = 3
_BACKOFF_BASE: Final = 30.0
_BACKOFF_MAX: Final = 3600.0


def process_owner() -> str:
    """A lease owner id unique to this process on this host."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_seconds(failures: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential with jitter, at least Retry-After."""
    base = min(_BACKOFF_MAX, _BACKOFF_BASE * (2 ** max(0, failures - 1)))
    delay = base * random.uniform(0.5, 1.0)
    return float(max(delay, retry_after or 0.0))


class RefreshCoordinator:
    """Runs refreshes for one manager with the protocol described in this module's docstring."""

    def __init__(self, manager: CredentialManager, *, lease_seconds: float = 30.0) -> None:
        self.manager = manager
        self.lease_seconds = lease_seconds
        self.owner = process_owner()
        self._flights: dict[uuid.UUID, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        # refresh results not yet written (database unavailable): connection id -> (data, changes)
        self._pending: dict[uuid.UUID, tuple[dict[str, Any], dict[str, Any]]] = {}

    # -- entry points ----------------------------------------------------------------------------------

    def ensure_fresh(self, row: ConnectionRow, *, force: bool = False) -> dict[str, Any]:
        """Return fresh data for ``row``, refreshing at most once for every caller in this process."""
        return self._single_flight(row, lambda: self._across_processes(row, force=force))

    def refresh_leased(self, row: ConnectionRow) -> dict[str, Any]:
        """Refresh a row whose lease this process already holds (the worker's claim); returns the data."""
        return self._single_flight(row, lambda: self._refresh_holding_lease(row, force=True))

    def _pending_or(self, row: ConnectionRow, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Serve a refresh result still waiting to be written (its refresh token is spent), else run ``work``."""
        with self._lock:
            pending = self._pending.get(row.id)
        if pending is None:
            return work()
        data, changes = pending
        try:
            self._complete(row, changes)
        except Exception as exc:
            _log.warning(
                "refresh connection=%s: serving the unwritten new token; write still failing: %s",
                row.id,
                type(exc).__name__,
            )
            return data
        self._forget_pending(row.id, pending)
        return data

    def _forget_pending(self, connection_id: uuid.UUID, pending: tuple[dict[str, Any], dict[str, Any]]) -> bool:
        with self._lock:
            if self._pending.get(connection_id) is not pending:
                return False
            del self._pending[connection_id]
            return True

    def _single_flight(self, row: ConnectionRow, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``work`` once for every concurrent caller about ``row`` (a pending unwritten result first)."""
        with self._lock:
            flight = self._flights.get(row.id)
            leader = flight is None
            if flight is None:
                flight = Future()
                self._flights[row.id] = flight
        if not leader:
            shared: dict[str, Any] = flight.result()
            return shared
        try:
            result = self._pending_or(row, work)
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            with self._lock:
                self._flights.pop(row.id, None)

    # -- the protocol ----------------------------------------------------------------------------------

    def _is_fresh(self, row: ConnectionRow) -> bool:
        if row.expires_at is None:
            return True
        return row.expires_at.timestamp() - self.manager.leeway_for(row.type) > time.time()

    def _across_processes(self, seen: ConnectionRow, *, force: bool) -> dict[str, Any]:
        store = self.manager.store
        deadline = time.monotonic() + self.lease_seconds + self.manager.http_timeout * 3 + 5
        delay = _POLL_START
        while True:
            current = store.get_by_id(seen.id)
            if current is None:
                raise ConnectionNotFound(seen.tenant_id, seen.name)
            if current.status == Status.EXPIRED:
                raise expired_error(current)
            moved = current.version != seen.version
            if moved and current.lease_owner is None and (force or self._is_fresh(current)):
                return self.manager.decrypt(current)  # somebody else refreshed since we looked
            if not force and self._is_fresh(current):
                return self.manager.decrypt(current)
            held_elsewhere = (
                current.lease_owner not in (None, self.owner)
                and current.lease_until is not None
                and current.lease_until.timestamp() > time.time()
            )
            # a live lease of another process: just poll (reads), don't queue for the write lock
            leased = None if held_elsewhere else store.acquire_lease(seen.id, self.owner, self.lease_seconds)
            if leased is not None:
                if leased.version != seen.version and (force or self._is_fresh(leased)):
                    store.release_lease(leased.id, self.owner)
                    return self.manager.decrypt(leased)
                return self._refresh_holding_lease(leased, force=force)
            if time.monotonic() > deadline:
                raise RefreshError(
                    f"connection {seen.name!r}: timed out waiting for another process's refresh",
                    transient=True,
                )
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(_POLL_MAX, delay * 1.5)

    def _refresh_holding_lease(self, row: ConnectionRow, *, force: bool) -> dict[str, Any]:
        manager = self.manager
        data = manager.decrypt(row)
        if not force and self._is_fresh(row):
            manager.store.release_lease(row.id, self.owner)
            return data
        ct = manager.credential_type(row.type)
        started = time.monotonic()
        try:
            new_data: dict[str, Any] | None = manager.registry.hook.refresh_token(
                credential_type=ct, data=data, http=manager.http
            )
        except RefreshError as exc:
            self._record_failure(row, data, exc, time.monotonic() - started)
            if not exc.transient:
                raise expired_error(row, exc) from None
            if row.expires_at is not None and row.expires_at.timestamp() > time.time():
                return data  # the current token still works; the worker will retry later
            raise
        except BaseException:
            manager.store.release_lease(row.id, self.owner)
            raise
        if new_data is None:
            manager.store.release_lease(row.id, self.owner)
            raise NotRefreshable(f"no plugin refreshes credentials of type {row.type!r}: nothing to refresh")
        expires_at = manager.expires_at_for(ct, new_data)
        self._persist(row, new_data, expires_at)
        _log.info(
            "refresh connection=%s type=%s outcome=ok duration_ms=%d",
            row.id,
            row.type,
            (time.monotonic() - started) * 1000,
        )
        return new_data

    def _persist(self, row: ConnectionRow, data: dict[str, Any], expires_at: dt.datetime | None) -> None:
        """Write the refresh result, or hand it to a background retrier; never drop it."""
        envelope = self.manager.encrypt(row.tenant_id, row.id, row.type, data)
        changes = {
            "data": envelope,
            "expires_at": expires_at,
            "refresh_expires_at": refresh_token_expiry(data),
            "status": Status.ACTIVE.value,
            "refresh_failures": 0,
            "last_error": None,
            "next_attempt_at": None,
            "last_refreshed_at": dt.datetime.now(UTC),
        }
        delay = 0.05
        for attempt in range(_WRITE_ATTEMPTS_INLINE):
            try:
                self._complete(row, changes)
                return
            except FluxnexError:
                raise
            except Exception as exc:
                _log.warning(
                    "refresh connection=%s: writing the new token failed (attempt %d): %s",
                    row.id,
                    attempt + 1,
                    type(exc).__name__,
                )
                time.sleep(delay)
                delay *= 4
        pending = (data, changes)
        with self._lock:
            self._pending[row.id] = pending
        thread = threading.Thread(
            target=self._persist_in_background,
            args=(row, pending),
            name=f"fluxnex-persist-{row.id}",
            daemon=False,
        )
        thread.start()

    def _persist_in_background(self, row: ConnectionRow, pending: tuple[dict[str, Any], dict[str, Any]]) -> None:
        delay = 0.5
        attempt = _WRITE_ATTEMPTS_INLINE
        while True:
            attempt += 1
            with self._lock:
                if self._pending.get(row.id) is not pending:
                    return  # written meanwhile by a caller (see _pending_or)
            try:
                self._complete(row, pending[1])
                self._forget_pending(row.id, pending)
                _log.info("refresh connection=%s: new token written after %d attempts", row.id, attempt)
                return
            except Exception as exc:
                _log.error(
                    "refresh connection=%s: new token still not written (attempt %d): %s; retrying in %.1fs",
                    row.id,
                    attempt,
                    type(exc).__name__,
                    delay,
                )
            time.sleep(delay)
            delay = min(30.0, delay * 2)

    def _complete(self, row: ConnectionRow, changes: dict[str, Any]) -> None:
        written = self.manager.store.complete_lease(row.id, self.owner, **changes)
        if written is None:
            _log.warning(
                "refresh connection=%s: lease was taken over before the write; newer data kept", row.id
            )

    def _record_failure(
        self, row: ConnectionRow, data: dict[str, Any], exc: RefreshError, took: float
    ) -> None:
        failures = row.refresh_failures + 1
        lapsed = row.expires_at is None or row.expires_at.timestamp() <= time.time()
        if exc.transient:
            status = Status.ERROR if lapsed else Status(row.status)
            next_at = dt.datetime.now(UTC) + dt.timedelta(seconds=backoff_seconds(failures, exc.retry_after))
        else:
            status, next_at = Status.EXPIRED, None
        outcome = "transient_error" if exc.transient else "expired"
        _log.warning(
            "refresh connection=%s type=%s outcome=%s duration_ms=%d failures=%d error=%s",
            row.id,
            row.type,
            outcome,
            took * 1000,
            failures,
            exc,
        )
        try:
            self.manager.store.complete_lease(
                row.id,
                self.owner,
                status=status.value,
                refresh_failures=failures,
                last_error=str(exc)[:500],
                next_attempt_at=next_at,
            )
        except Exception as write_error:
            _log.error(
                "refresh connection=%s: recording the failure failed: %s", row.id, type(write_error).__name__
            )
