"""Exactly one refresh per token generation, across threads, processes and hosts.

1. In the process, a single flight per connection: the first caller refreshes, the others wait for its result.
2. Across processes, a lease on the row (``lease_owner`` + ``lease_until``, taken by compare-and-set): the
   holder calls the provider with no database transaction open. Its lease is renewed by a heartbeat
   (``fluxnex.lifecycle.heartbeat``) for as long as the token request and the plugin hooks run, so a slow answer is read
   to the end and stored; only a silent owner (crashed, killed) is taken over, once ``lease_until`` passed.
   Others poll with backoff until the row's version moves and read the winner's result. The token request
   has an overall deadline (``CredentialManager(http_timeout=...)``, ``fluxnex.lifecycle._http``).
3. Due (``tokens``): less than ``min(leeway, a fraction of the token's own lifetime)`` left; re-checked
   under the lease, so a connection another process just refreshed is not refreshed again.
4. Plugin results are checked before anything is stored (``refresh_checks``); a bad result or a type no
   plugin refreshes releases the lease at once and leaves the row as it was.
5. Persist first, compare-and-set on version, merged into concurrent updates, kept in a recovery file when the
   database refuses it: ``fluxnex.lifecycle.refresh_write``.
6. Failures: a permanent one (``invalid_grant``, ``invalid_client``, revoked) marks the connection EXPIRED;
   a transient one (5xx, 429, timeouts, malformed responses) counts a failure, schedules the next attempt with
   backoff (honouring ``Retry-After``) and sets ERROR only once the access token has actually lapsed. Both are
   recorded only if the row is still at the version the refresh read.
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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final

from fluxnex.contract.errors import ConnectionNotFound, NotRefreshable, RefreshError
from fluxnex.lifecycle import oauth2 as _oauth2  # noqa: F401 - loaded with the coordinator so a first refresh pays no import
from fluxnex.lifecycle.heartbeat import LeaseHeartbeat
from fluxnex.lifecycle.observability._metrics import METRICS
from fluxnex.lifecycle.refresh_checks import PluginResultError, call_refresh_hook, check_result
from fluxnex.lifecycle.refresh_write import ResultWriter, row_result
from fluxnex.lifecycle.tokens import due, expired_error, lapsing
from fluxnex.storage.oauth_apps import inherit, strip_inherited
from fluxnex.storage.store import ConnectionRow, Status

if TYPE_CHECKING:
    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.lifecycle.provider_http import ProviderHTTP
    from fluxnex.lifecycle.recovery import RecoveryFiles
    from fluxnex.lifecycle.token_policy import TokenPolicy
    from fluxnex.storage.oauth_apps import OAuthApps
    from fluxnex.storage.row_cipher import RowCipher
    from fluxnex.storage.store import ConnectionStore

__all__ = ["RefreshCoordinator", "backoff_seconds", "process_owner"]

_log = logging.getLogger("fluxnex.refresh")
UTC = dt.UTC

_POLL_START: Final = 0.005
_POLL_MAX: Final = 0.025
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
    """Runs refreshes for one database with the protocol described in this module's docstring.

    It is given what it needs from the layers below: the store, the registry whose plugins refresh, the
    cipher that opens and seals rows, the token timing rules, the provider session and the recovery files.
    """

    def __init__(
        self,
        *,
        store: ConnectionStore,
        registry: TypeRegistry,
        cipher: RowCipher,
        tokens: TokenPolicy,
        http: ProviderHTTP,
        recovery: RecoveryFiles,
        lease_seconds: float = 30.0,
        client_settings: OAuthApps | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.cipher = cipher
        self.tokens = tokens
        self.http = http
        self.lease_seconds = lease_seconds
        # the OAuth apps whose settings a connection of (type, tenant) inherits (fluxnex.storage.oauth_apps), if any
        self.client_settings = client_settings
        self.owner = process_owner()
        self._flights: dict[uuid.UUID, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.writer = ResultWriter(store, registry, cipher, tokens, recovery)
        self.heartbeat = LeaseHeartbeat(store, self.owner, lease_seconds, also=self.writer.pending_ids)

    # -- entry points ----------------------------------------------------------------------------------

    def ensure_fresh(self, row: ConnectionRow, *, force: bool = False) -> dict[str, Any]:
        """Return fresh data for ``row``, refreshing at most once for every caller in this process."""
        return self._single_flight(row, lambda: self._across_processes(row, force=force))

    def refresh_leased(
        self, row: ConnectionRow, *, horizon: float | None = None, app: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Refresh a row whose lease this process holds (the worker's claim); its data, or None when skipped.

        With ``horizon``, the current row is re-read first: unless this process still holds its lease at the
        version claimed and the token is still due within ``horizon``, the lease is released and nothing runs.
        ``app`` is the OAuth app settings the row inherits when the caller read them already (``apps_of``).
        """
        if horizon is not None and self.writer.pending_data(row.id) is None:
            current = self.store.get_by_id(row.id)
            ours = current is not None and current.lease_owner == self.owner
            if current is None or not ours or current.version != row.version or not due(current, horizon):
                if ours:
                    self.store.release_lease(row.id, self.owner)
                return None
            row = current
        return self._single_flight(row, lambda: self._refresh_holding_lease(row, force=True, app=app))

    def apps_of(self, rows: Sequence[ConnectionRow]) -> dict[uuid.UUID, dict[str, Any]]:
        """The OAuth app settings each of ``rows`` inherits, read in one query (the worker's claimed batch)."""
        if self.client_settings is None:
            return {row.id: {} for row in rows}
        apps = self.client_settings.settings_many((row.type, row.tenant_id) for row in rows)
        return {row.id: apps[row.type, row.tenant_id] for row in rows}

    def replay_recoveries(self) -> int:
        """Write the recovery files of this database (``fluxnex.lifecycle.recovery``); how many were settled."""
        return self.writer.replay()

    def close(self) -> None:
        """Flush unwritten results (what still fails stays in its recovery file) and stop the heartbeat."""
        self.writer.close()
        self.heartbeat.close()

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
            pending = self.writer.pending_data(row.id)  # its refresh token is spent: serve it, don't refresh
            if pending is None and self.writer.replay_connection(row.id):  # a result left on disk: store it first
                pending = self._current_data(row)
            result = pending if pending is not None else work()
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            with self._lock:
                self._flights.pop(row.id, None)

    def _current_data(self, row: ConnectionRow) -> dict[str, Any]:
        current = self.store.get_by_id(row.id)
        if current is None:
            raise ConnectionNotFound(row.tenant_id, row.name)
        return self.cipher.decrypt(current)

    # -- the protocol ----------------------------------------------------------------------------------

    def _is_fresh(self, row: ConnectionRow) -> bool:
        return not due(row, self.tokens.leeway_for(row.type))

    def _across_processes(self, seen: ConnectionRow, *, force: bool) -> dict[str, Any]:
        store = self.store
        deadline = time.monotonic() + self.lease_seconds + self.http.timeout + 5
        delay = _POLL_START
        while True:
            current = store.get_by_id(seen.id)
            if current is None:
                raise ConnectionNotFound(seen.tenant_id, seen.name)
            if current.status == Status.EXPIRED:
                raise expired_error(current)
            moved = current.version != seen.version
            if moved and current.lease_owner is None and (force or self._is_fresh(current)):
                return self.cipher.decrypt(current)  # somebody else refreshed since we looked
            if not force and self._is_fresh(current):
                return self.cipher.decrypt(current)
            held_elsewhere = (
                current.lease_owner not in (None, self.owner)
                and current.lease_until is not None
                and current.lease_until.timestamp() > time.time()
            )
            # a live lease of another process: just poll (reads), don't queue for the write lock
            leased = None if held_elsewhere else store.acquire_lease(seen.id, self.owner, self.lease_seconds)
            if leased is not None:
                if current.lease_owner not in (None, self.owner):  # a lapsed lease of a silent owner
                    METRICS.takeover()
                if leased.version != seen.version and (force or self._is_fresh(leased)):
                    store.release_lease(leased.id, self.owner)
                    return self.cipher.decrypt(leased)
                return self._refresh_holding_lease(leased, force=force)
            if time.monotonic() > deadline:
                raise RefreshError(
                    f"connection {seen.name!r}: timed out waiting for another process's refresh",
                    transient=True,
                )
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(_POLL_MAX, delay * 1.5)

    def _refresh_holding_lease(
        self, row: ConnectionRow, *, force: bool, app: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        store = self.store
        try:
            data = self.cipher.decrypt(row)
        except BaseException:
            store.release_lease(row.id, self.owner)
            raise
        if not force and self._is_fresh(row):
            store.release_lease(row.id, self.owner)
            return data
        started = time.monotonic()
        with self.heartbeat.holding(row.id):  # renewed until the result is written (or pending)
            try:
                ct = self.registry.get(row.type)
                if app is None:
                    app = self.client_settings.settings_for(row.type, row.tenant_id) if self.client_settings else {}
                answer, plugin = call_refresh_hook(self.registry, ct, inherit(app, data, ct), self.http.session)
                new_data = check_result(self.registry, ct, answer, plugin, f"connection {row.name!r}")
                new_data = strip_inherited(app, data, new_data, ct)  # the operator's client stays out of the row
            except (NotRefreshable, PluginResultError) as exc:
                store.release_lease(row.id, self.owner)  # the row stays exactly as it was
                _log.warning("refresh connection=%s type=%s outcome=not_stored error=%s", row.id, row.type, exc)
                METRICS.refresh(row.type, "not_stored", time.monotonic() - started)
                raise
            except RefreshError as exc:
                self._record_failure(row, exc, time.monotonic() - started)
                if not exc.transient:
                    raise expired_error(row, exc) from None
                if row.expires_at is not None and not lapsing(row, time.time()):
                    return data  # the current token still works long enough to be used; the worker retries
                raise
            except BaseException:
                store.release_lease(row.id, self.owner)
                raise
            self.writer.persist(row_result(row, data, new_data))
        METRICS.refresh(row.type, "ok", time.monotonic() - started)
        _log.info(
            "refresh connection=%s type=%s outcome=ok duration_ms=%d",
            row.id,
            row.type,
            (time.monotonic() - started) * 1000,
        )
        return new_data

    def _record_failure(self, row: ConnectionRow, exc: RefreshError, took: float) -> None:
        failures = row.refresh_failures + 1
        lapsed = row.expires_at is None or row.expires_at.timestamp() <= time.time()
        if exc.transient:
            status = Status.ERROR if lapsed else Status(row.status)
            next_at = dt.datetime.now(UTC) + dt.timedelta(seconds=backoff_seconds(failures, exc.retry_after))
        else:
            status, next_at = Status.EXPIRED, None
        outcome = "transient_error" if exc.transient else "expired"
        METRICS.refresh(row.type, outcome, took)
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
            recorded = self.store.complete_lease(
                row.id,
                self.owner,
                row.version,
                status=status.value,
                refresh_failures=failures,
                last_error=str(exc)[:500],
                next_attempt_at=next_at,
            )
            if recorded is None:  # somebody wrote meanwhile (a newer token, an update): theirs stands
                self.store.release_lease(row.id, self.owner)
        except Exception as write_error:
            _log.error(
                "refresh connection=%s: recording the failure failed: %s", row.id, type(write_error).__name__
            )
