"""``AsyncPromptReader``: ``PromptReader``'s reads on PostgreSQL, awaited on the event loop.

A blocking read on the loop sits out PostgreSQL's round trip, serving no one meanwhile. This reader sends the
same statement (``prompt_sql``) over up to ``size`` ``psycopg.AsyncConnection``s of its own (outside the
store's pool: the process holds up to ``size`` connections more), so while one request waits for its row the
loop serves others, and up to ``size`` reads are in flight at once. Each connection runs in autocommit with
``statement_timeout`` and ``lock_timeout`` of ``timeout`` seconds and the time zone UTC (as the store's); a
read also gives up on its own after twice the timeout (a server that stopped answering: then psycopg's cancel
request may keep that one request waiting up to 5 s more, never the loop). A read raises ``Busy`` at once when
no connection is free, and on any failure, which also closes its connection. Connections are opened on the
loop, in the background, when a read finds none free (at most one attempt per ``RETRY_AFTER`` seconds after
a failure); the requests meanwhile take the waiting path (the pool, in a thread). It closes with the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

from fluxnex.storage.store._prompt import RETRY_AFTER, Busy, PromptRead, prompt_params, prompt_read, prompt_sql

if TYPE_CHECKING:
    from fluxnex.storage.store._repository import ConnectionStore

__all__ = ["CONNECT_TIMEOUT", "AsyncPromptReader"]

#: Seconds opening one connection may take (on the loop, in the background).
CONNECT_TIMEOUT: Final = 5.0


class AsyncPromptReader:
    """Up to ``size`` PostgreSQL connections for reads awaited on one event loop (use it from that loop only)."""

    def __init__(self, store: ConnectionStore, timeout: float, size: int = 2) -> None:
        if not 0 < timeout <= 60:
            raise ValueError(f"the prompt read timeout must be in (0, 60] seconds, got {timeout!r}")
        if not 1 <= size <= 16:
            raise ValueError(f"the prompt connection count must be in [1, 16], got {size!r}")
        if store.dialect != "postgresql":
            raise ValueError(f"AsyncPromptReader reads PostgreSQL, not {store.dialect}")
        self._raw = store._raw
        self.timeout = timeout
        self.size = size
        self._sql = prompt_sql(sqlite=False)
        args, kwargs = store.engine.dialect.create_connect_args(store.engine.url)  # as the store's pool connects
        self._connect_args: tuple[tuple[Any, ...], dict[str, Any]] = (tuple(args), kwargs)
        self._free: list[Any] = []
        self._conns: set[Any] = set()
        self._opening = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._pid = os.getpid()
        self._retry_at = 0.0
        import sqlalchemy as sa

        sa.event.listen(store.engine, "engine_disposed", lambda _engine: self.close())  # closes with the store

    def __repr__(self) -> str:  # the connect arguments may hold a password: never shown
        return f"AsyncPromptReader(size={self.size}, open={len(self._conns)}, timeout={self.timeout})"

    @property
    def is_open(self) -> bool:
        """Whether reads may be tried (in the process that made the reader; a read finds or opens a connection)."""
        return self._pid == os.getpid()

    def open(self) -> None:
        """Nothing to do from a thread: connections open on the loop, when a read finds none free."""

    async def aread(self, digest: str, connection_id: uuid.UUID | None) -> PromptRead:
        """The API key of hash ``digest`` and the connection ``connection_id`` (None: no connection), in one
        statement; ``Busy`` when it cannot (no connection free, or the read failed or ran over its time)."""
        if not self._free or self._pid != os.getpid():
            self._grow()
            raise Busy("no prompt connection is free")
        conn = self._free.pop()
        try:
            async with asyncio.timeout(2 * self.timeout):
                cursor = await conn.execute(self._sql, prompt_params(self._raw, digest, connection_id))
                found = await cursor.fetchone()
        except Exception as exc:  # slow, locked or gone: the waiting path answers (and reports) instead
            self._discard(conn)
            raise Busy(f"the prompt read failed: {type(exc).__name__}") from exc
        except BaseException:  # cancelled: the connection's state is unknown
            self._discard(conn)
            raise
        self._free.append(conn)
        return prompt_read(self._raw, digest, connection_id, found)

    def _grow(self) -> None:
        """Open one more connection in the background, unless there are ``size`` or one failed just now."""
        if (self._pid != os.getpid() or len(self._conns) + self._opening >= self.size
                or time.monotonic() < self._retry_at):
            return
        self._opening += 1
        task = asyncio.get_running_loop().create_task(self._connect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        import psycopg

        conn: Any = None
        ms = max(1, int(self.timeout * 1000))
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                args, kwargs = self._connect_args
                conn = await psycopg.AsyncConnection.connect(*args, **{**kwargs, "autocommit": True})
                await conn.execute(f"SET statement_timeout = {ms}")
                await conn.execute(f"SET lock_timeout = {ms}")
                await conn.execute("SET TIME ZONE 'UTC'")  # as the store's: the decoding converts nothing
        except Exception:  # unreachable or refused
            self._retry_at = time.monotonic() + RETRY_AFTER
            if conn is not None:
                self._finish(conn)
            return
        finally:
            self._opening -= 1
        self._conns.add(conn)
        self._free.append(conn)

    def _discard(self, conn: Any) -> None:
        self._conns.discard(conn)
        self._retry_at = time.monotonic() + RETRY_AFTER
        self._finish(conn)

    @staticmethod
    def _finish(conn: Any) -> None:
        with contextlib.suppress(Exception):  # closing a connection that already failed: nothing left to do
            conn.pgconn.finish()

    def close(self) -> None:
        """Close every connection (a later read opens them again)."""
        conns, self._free, self._conns = list(self._conns), [], set()
        self._retry_at = 0.0
        if self._pid == os.getpid():
            for conn in conns:
                self._finish(conn)
