"""``PipelinedReads``: the PostgreSQL prompt reads, sent without waiting and answered by the event loop.

A read is one execution of a prepared statement sent on the prompt connection in libpq's pipeline mode. The
loop does not wait for the answer: it goes on serving other requests, and the connection's socket tells the
loop when answers arrive (``add_reader``), in the order the reads were sent. Several requests' reads are in
flight at once on the one connection. The reads sent in one turn of the loop go out together, behind one sync
point, at the end of the turn (one system call, not one each).

A read is answered promptly or not at all: PostgreSQL's ``statement_timeout`` and ``lock_timeout`` (``timeout``)
end a slow statement on the server, and a timer of the loop's ends a wait the server does not answer at all
(a dead host, a hung proxy: no TCP timeout to wait out) after ``deadline(timeout)`` seconds, a margin past
the server's own timeout so that a server that answers reports first. Either way, and when the connection
breaks, every read in flight raises ``Busy`` (the caller takes the thread pool instead) and the connection is
closed, to be opened again by ``open``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import Sequence
from typing import Any, Final

from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.types.json import set_json_loads

from fluxnex.storage.store._scale import loads_text

__all__ = ["STATEMENT", "PipelinedReads", "deadline"]

#: the prompt read's prepared statement on the prompt connection
STATEMENT: Final = b"fluxnex_prompt_read"
_TEXT_OID, _UUID_OID = 25, 2950
_FORMATS: Final = (pq.Format.TEXT, pq.Format.BINARY)  # the key's digest as text, the connection id as 16 bytes
_TUPLES_OK, _SYNC = pq.ExecStatus.TUPLES_OK, pq.ExecStatus.PIPELINE_SYNC


def deadline(timeout: float) -> float:
    """Seconds the loop waits for an answer to a read whose statement the server ends after ``timeout``."""
    return 2 * timeout + 0.1


class PipelinedReads:
    """Reads in flight on one psycopg connection, answered on the one event loop that sent them (loop thread only).

    ``busy`` is the exception every failed read raises (``Busy``). ``on_failure`` is called once when the
    connection fails or a read runs over ``timeout``: it closes the connection. The connection must be idle,
    in autocommit, with its timeouts set; this puts it in pipeline mode for good.
    """

    def __init__(self, conn: Any, sql: str, timeout: float, busy: type[Exception], on_failure: Any) -> None:
        self._pg: pq.abc.PGconn = conn.pgconn
        prepared = self._pg.prepare(STATEMENT, sql.encode(), [_TEXT_OID, _UUID_OID])
        if prepared.status != pq.ExecStatus.COMMAND_OK:
            raise busy(f"the prompt read could not be prepared: {prepared.error_message.decode(errors='replace')}")
        set_json_loads(_loads, conn)  # the data column: the same values for less than json.loads
        self._tx = Transformer(conn)
        self._timeout = deadline(timeout)
        self._busy = busy
        self._on_failure = on_failure
        self._fd = self._pg.socket
        self._pending: collections.deque[tuple[asyncio.Future[Sequence[Any] | None], float]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._writing = False
        self._syncing = False
        self._failed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pg.nonblocking = 1
        self._pg.enter_pipeline_mode()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Answer reads on ``loop`` (the caller's running loop): the socket is watched there."""
        loop.add_reader(self._fd, self._readable)
        self.loop = loop

    def send(self, digest: str, connection_id: uuid.UUID | None) -> asyncio.Future[Sequence[Any] | None]:
        """Send one read; the future gives its row (None: no row), or raises ``busy``."""
        if self.loop is None or self._failed:
            raise self._busy("the prompt connection is not open")
        pg = self._pg
        try:
            pg.send_query_prepared(STATEMENT, [digest.encode(), None if connection_id is None else connection_id.bytes],
                                   _FORMATS, pq.Format.BINARY)
        except Exception as exc:  # the connection is gone
            self.fail(f"the prompt read could not be sent: {type(exc).__name__}")
            raise self._busy("the prompt connection failed") from exc
        future: asyncio.Future[Sequence[Any] | None] = self.loop.create_future()
        self._pending.append((future, self.loop.time() + self._timeout))
        if not self._syncing:  # the turn's reads go out together once the turn's callbacks have run
            self._syncing = True
            self.loop.call_soon(self._sync)
        if self._timer is None:
            self._timer = self.loop.call_at(self.loop.time() + self._timeout, self._expire)
        return future

    def _sync(self) -> None:
        self._syncing = False
        if self._failed:
            return
        try:
            self._pg.pipeline_sync()  # a sync point; the buffer is flushed below as far as the socket takes it
        except Exception as exc:
            self.fail(f"the prompt read could not be sent: {type(exc).__name__}")
            return
        self._flush()

    def _flush(self) -> None:
        """Send what is buffered; while the socket's buffer is full, again whenever it drains."""
        try:
            done = self._pg.flush() == 0
        except Exception as exc:
            self.fail(f"the prompt read could not be sent: {type(exc).__name__}")
            return
        if self.loop is None:
            return
        if done and self._writing:  # drained: stop watching for room
            self.loop.remove_writer(self._fd)
            self._writing = False
        elif not done and not self._writing:  # full: flush again when the socket has room
            self.loop.add_writer(self._fd, self._flush)
            self._writing = True

    def _readable(self) -> None:
        pg = self._pg
        try:
            pg.consume_input()
            answered = False  # a None after a statement's result ends it; a None after nothing: nothing came yet
            while not pg.is_busy():
                result = pg.get_result()
                if result is None:
                    if not answered:
                        break
                    answered = False
                elif result.status != _SYNC:
                    self._answer(result)
                    answered = True
        except Exception as exc:  # the connection broke: the reads in flight will not be answered
            self.fail(f"the prompt connection failed: {type(exc).__name__}")

    def _answer(self, result: pq.abc.PGresult) -> None:
        if not self._pending:
            return
        future, _ = self._pending.popleft()
        if future.done():  # its caller was cancelled
            return
        if result.status != _TUPLES_OK:  # an error (a timeout on the server): close, as a blocking read would
            message = (result.error_message or b"").decode(errors="replace").strip().splitlines()
            future.set_exception(self._busy(f"the prompt read failed: {message[0] if message else result.status}"))
            self.fail("a prompt read before this one failed")
            return
        if result.ntuples == 0:
            future.set_result(None)
            return
        tx = self._tx
        tx.set_pgresult(result, format=pq.Format.BINARY)
        future.set_result(tx.load_row(0, tuple))

    def _expire(self) -> None:
        self._timer = None
        if not self._pending or self.loop is None:
            return
        deadline = self._pending[0][1]
        if self.loop.time() >= deadline:  # the oldest read is unanswered after the timeout: the server is gone
            self.fail("the prompt read ran over its timeout")
            return
        self._timer = self.loop.call_at(deadline, self._expire)

    @property
    def in_flight(self) -> int:
        """Reads sent and not answered yet."""
        return len(self._pending)

    def fail(self, why: str) -> None:
        """Stop watching the socket and fail every read in flight with ``busy(why)``; then ``on_failure`` (once)."""
        if self._failed:
            return
        self._failed = True
        self.detach()
        while self._pending:
            future, _ = self._pending.popleft()
            if not future.done():
                future.set_exception(self._busy(why))
        self._on_failure()

    def detach(self) -> None:
        """Stop watching the socket (on the loop's thread, or once the loop has stopped)."""
        loop, self.loop = self.loop, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(Exception):  # a loop shutting down may have let go of the selector
                loop.remove_reader(self._fd)
                if self._writing:
                    loop.remove_writer(self._fd)
        self._writing = False


def _loads(data: str | bytes) -> Any:
    return loads_text(data if isinstance(data, str) else data.decode())
