"""``PromptReader``: reads for a caller that must not wait (the connect service's event loop).

``read(digest, connection_id)`` answers what a request for a connection asks first, an API key by its hash and
a connection by its id, in one statement (``PromptRead``). It runs on one database connection of its own,
outside the store's pool (one connection more than the pool's), whose statements give up after ``timeout``
seconds (SQLite: ``busy_timeout``; PostgreSQL: ``statement_timeout`` and ``lock_timeout``; there the statement
is prepared once and runs on one cursor with binary results, which costs the loop less per read than a cursor
per read in text; the values are the same). A read raises
``Busy`` at once when the connection is in use, not open or was opened by another process, and after the
timeout when the database is locked or slow: the caller then takes its waiting path (the pool, in a thread).
A failed read closes the connection, and ``open`` (called from a thread that may wait) opens it again no sooner
than ``RETRY_AFTER`` seconds later, so a database in trouble costs the caller at most one timeout per second.
It closes with the store (``ConnectionStore.dispose``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

if TYPE_CHECKING:
    from fluxnex.storage.store._models import ConnectionRow
    from fluxnex.storage.store._repository import ConnectionStore

__all__ = ["KEY_COLUMNS", "RETRY_AFTER", "Busy", "PromptRead", "PromptReader"]

#: what ``ServiceStore.authenticate`` reads of an API key (``PromptReader.read`` reads the same)
KEY_COLUMNS: Final = ("id", "name", "prefix", "key_hash", "tenant_id", "scopes", "created_at", "last_used_at",
                      "revoked_at")
#: Seconds a failed connection stays closed before ``open`` tries again.
RETRY_AFTER: Final = 1.0


class Busy(Exception):  # a signal to take the waiting path, not an error anyone reports
    """The prompt connection cannot answer now (in use, closed, locked or over its timeout): wait elsewhere."""


@attrs.frozen
class PromptRead:
    """An API key's row (``ServiceStore.authenticate`` decodes it) and a connection's, read together."""

    digest: str
    connection_id: uuid.UUID | None
    key_row: Sequence[Any] | None
    connection: ConnectionRow | None

    def api_key_row(self, digest: str) -> Sequence[Any] | None:
        """The key row read for ``digest`` (``Busy`` for any other: it was not read)."""
        if digest != self.digest:
            raise Busy("another API key was read")
        return self.key_row

    def get_by_id(self, connection_id: uuid.UUID) -> ConnectionRow | None:
        """``ConnectionStore.get_by_id`` as it was read (``Busy`` for any other id)."""
        if connection_id != self.connection_id:
            raise Busy("another connection was read")
        return self.connection


class PromptReader:
    """One connection for reads that answer within ``timeout`` seconds or raise ``Busy`` (thread-safe)."""

    def __init__(self, store: ConnectionStore, timeout: float) -> None:
        if not 0 < timeout <= 60:
            raise ValueError(f"the prompt read timeout must be in (0, 60] seconds, got {timeout!r}")
        self._store = store
        self._raw = store._raw
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pool: Any = None
        self._fairy: Any = None
        self._conn: Any = None
        self._cursor: Any = None  # PostgreSQL: one cursor for every read (a new one per read costs more)
        self._pid = 0
        self._retry_at = 0.0
        from fluxnex.storage.store._models import COLUMNS

        mark = "?" if self._raw.sqlite else "%s"
        self._key_width = len(KEY_COLUMNS)
        self._sql = (  # one row whatever matches: the outer joins fill what is missing with NULLs
            f"SELECT {', '.join('k.' + c for c in KEY_COLUMNS)}, {', '.join('c.' + c for c in COLUMNS)} "  # noqa: S608
            f"FROM (SELECT 1) AS one LEFT JOIN api_key AS k ON k.key_hash = {mark} "
            f"LEFT JOIN connection AS c ON c.id = {mark}"
        )
        import sqlalchemy as sa

        sa.event.listen(store.engine, "engine_disposed", lambda _engine: self.close())  # closes with the store

    @property
    def is_open(self) -> bool:
        """Whether reads may be tried (a connection of this process is open)."""
        return self._conn is not None and self._pid == os.getpid()

    def open(self) -> None:
        """Open the connection unless it is open or failed less than ``RETRY_AFTER`` seconds ago (this waits:
        never call it where waiting is not allowed). A failure to connect is left to the next try."""
        if self.is_open or time.monotonic() < self._retry_at:
            return
        with self._lock:
            if self.is_open or time.monotonic() < self._retry_at:
                return
            if self._pid != os.getpid():  # inherited across a fork: the parent's socket is not ours to use
                self._pool = self._fairy = self._conn = self._cursor = None
            try:
                self._connect()
            except Exception:
                self._drop()

    def _connect(self) -> None:
        if self._pool is None:
            self._pool = self._store.engine.pool.recreate()  # the engine's connect hooks (pragmas, time zone)
        self._fairy = self._pool.connect()
        conn = self._fairy.dbapi_connection
        ms = max(1, int(self.timeout * 1000))
        if self._raw.sqlite:
            conn.execute(f"PRAGMA busy_timeout = {ms}")
        else:
            conn.autocommit = True
            conn.execute(f"SET statement_timeout = {ms}")
            conn.execute(f"SET lock_timeout = {ms}")
            self._cursor = conn.cursor(binary=True)  # binary rows: the same values, decoded for less
        self._conn, self._pid = conn, os.getpid()

    def _drop(self) -> None:
        """Close the connection (after a failure: ``open`` waits ``RETRY_AFTER`` before the next)."""
        fairy, self._fairy, self._conn, self._cursor = self._fairy, None, None, None
        self._retry_at = time.monotonic() + RETRY_AFTER
        if fairy is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):  # closing a connection that already failed: nothing left to do
                fairy.invalidate()

    def fetch(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None:
        """The first row of a SELECT (the store's dialect's placeholders), or None; ``Busy`` when it cannot."""
        if not self._lock.acquire(blocking=False):
            raise Busy("the prompt connection is in use")
        try:
            conn = self._conn
            if conn is None or self._pid != os.getpid():
                raise Busy("the prompt connection is not open")
            try:
                cursor = self._cursor
                if cursor is None:
                    row: Sequence[Any] | None = conn.execute(sql, params).fetchone()
                else:
                    row = cursor.execute(sql, params, prepare=True).fetchone()
            except Exception as exc:  # locked, slow or gone: the waiting path answers (and reports) instead
                self._drop()
                raise Busy(f"the prompt read failed: {type(exc).__name__}") from exc
            return row
        finally:
            self._lock.release()

    def read(self, digest: str, connection_id: uuid.UUID | None) -> PromptRead:
        """The API key of hash ``digest`` and the connection ``connection_id`` (None: no connection), in one
        statement; ``Busy`` when it cannot."""
        raw = self._raw
        found = self.fetch(self._sql, (digest, None if connection_id is None else raw.uuid_param(connection_id)))
        assert found is not None  # the outer joins give one row, matched or not
        n = self._key_width
        return PromptRead(digest, connection_id, None if found[0] is None else found[:n],
                          None if found[n] is None else raw.decode(found[n:]))

    def close(self) -> None:
        """Close the connection for good (a later ``open`` may open it again)."""
        with self._lock:
            self._drop()
            self._retry_at = 0.0
            if self._pool is not None and self._pid == os.getpid():
                self._pool.dispose()
            self._pool = None
