"""``PromptReader``: reads for a caller that must not wait (the connect service's event loop).

``read(digest, connection_id)`` answers what a request for a connection asks first, an API key by its hash and
a connection by its id, in one statement (``PromptRead``). It runs on one database connection of its own,
outside the store's pool (one connection more than the pool's), whose statements give up after ``timeout``
seconds (SQLite: ``busy_timeout``; PostgreSQL: ``statement_timeout`` and ``lock_timeout``). On PostgreSQL the
event loop calls ``aread`` instead, which sends the statement without waiting for its answer
(``PipelinedReads``: prepared once, in pipeline mode, binary results) and bounds the wait with a deadline of its
own; on SQLite ``aread`` is ``read``. A read raises ``Busy`` at once when the connection is in use, not open
or was opened by another process, and after the timeout when the database is locked or slow: the caller then
takes its waiting path (the pool, in a thread).
A failed read closes the connection, and ``open`` (called from a thread that may wait) opens it again no sooner
than ``RETRY_AFTER`` seconds later, so a database in trouble costs the caller at most one timeout per second.
It closes with the store (``ConnectionStore.dispose``).
"""

from __future__ import annotations

import asyncio
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
    from fluxnex.storage.store._prompt_pg import PipelinedReads
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
        self._cursor: Any = None  # PostgreSQL without pipeline mode: one cursor for every read
        self._pipe: PipelinedReads | None = None  # PostgreSQL: reads the event loop sends without waiting
        self._pid = 0
        self._retry_at = 0.0
        from fluxnex.storage.store._models import COLUMNS

        mark = "?" if self._raw.sqlite else "%s"
        self._key_width = len(KEY_COLUMNS)
        select = (  # one row whatever matches: the outer joins fill what is missing with NULLs
            f"SELECT {', '.join('k.' + c for c in KEY_COLUMNS)}, {', '.join('c.' + c for c in COLUMNS)} "  # noqa: S608
            "FROM (SELECT 1) AS one LEFT JOIN api_key AS k ON k.key_hash = {} LEFT JOIN connection AS c ON c.id = {}"
        )
        self._sql = select.format(mark, mark)
        self._pipe_sql = select.format("$1", "$2")  # libpq's own placeholders (a statement prepared on the wire)
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
                self._pool = self._fairy = self._conn = self._cursor = self._pipe = None
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
            import psycopg

            if psycopg.Pipeline.is_supported():
                from fluxnex.storage.store._prompt_pg import PipelinedReads

                self._pipe = PipelinedReads(conn, self._pipe_sql, self.timeout, Busy, self._drop)
            else:
                self._cursor = conn.cursor(binary=True)  # binary rows: the same values, decoded for less
        self._conn, self._pid = conn, os.getpid()

    def _drop(self) -> None:
        """Close the connection (after a failure: ``open`` waits ``RETRY_AFTER`` before the next)."""
        fairy, self._fairy, self._conn, self._cursor = self._fairy, None, None, None
        pipe, self._pipe = self._pipe, None
        self._retry_at = time.monotonic() + RETRY_AFTER
        if pipe is not None and self._pid == os.getpid():
            pipe.fail("the prompt connection was closed")  # its reads in flight go to the thread pool
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
            if self._pipe is not None:
                raise Busy("the prompt connection is in pipeline mode: its reads are sent by aread")
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
        found = self.fetch(self._sql, (digest, None if connection_id is None else self._raw.uuid_param(connection_id)))
        return self._decoded(digest, connection_id, found)

    async def aread(self, digest: str, connection_id: uuid.UUID | None) -> PromptRead:
        """``read`` for the running event loop: on PostgreSQL sent without blocking the loop (``PipelinedReads``,
        answered while the loop serves other requests; ``Busy`` as ``read``'s, and when another running loop
        holds the connection), elsewhere ``read`` itself."""
        pipe = self._pipe
        if pipe is None:
            return self.read(digest, connection_id)
        if self._conn is None or self._pid != os.getpid():
            raise Busy("the prompt connection is not open")
        loop = asyncio.get_running_loop()
        if pipe.loop is not loop:
            if pipe.loop is not None and pipe.loop.is_running():
                raise Busy("the prompt connection answers another event loop")
            pipe.detach()  # the loop it answered has stopped (a service started again in the same process)
            pipe.attach(loop)
        return self._decoded(digest, connection_id, await pipe.send(digest, connection_id))

    def _decoded(self, digest: str, connection_id: uuid.UUID | None, found: Sequence[Any] | None) -> PromptRead:
        assert found is not None  # the outer joins give one row, matched or not
        n = self._key_width
        return PromptRead(digest, connection_id, None if found[0] is None else found[:n],
                          None if found[n] is None else self._raw.decode(found[n:]))

    def close(self) -> None:
        """Close the connection for good (a later ``open`` may open it again). A running event loop the
        connection answers closes it on its own thread (reads in flight then go to the thread pool)."""
        pipe = self._pipe
        loop = pipe.loop if pipe is not None else None
        if loop is not None and loop.is_running() and not _running(loop):
            closed = threading.Event()

            def close_there() -> None:
                try:
                    with self._lock:
                        self._drop()
                finally:
                    closed.set()

            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: close it here
                loop.call_soon_threadsafe(close_there)
                closed.wait(1.0)
        with self._lock:
            self._drop()
            self._retry_at = 0.0
            if self._pool is not None and self._pid == os.getpid():
                self._pool.dispose()
            self._pool = None


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` is the one running in this thread."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
