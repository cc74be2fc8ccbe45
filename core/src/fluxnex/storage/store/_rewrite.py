"""A pass that rewrites ``data`` batch by batch (key rotation), with the database working while the caller does.

``DataRewriter.send(updates, after)`` starts writing one batch (compare-and-set on each row's version) and
reading the batch after ``after``; ``receive()`` waits for both and returns the ids that conflicted and the
rows read. Between the two the caller re-encrypts the batch in hand.

- PostgreSQL: one pooled connection in pipeline mode, no helper thread. The read, its ``COMMIT``, the write
  and its ``COMMIT`` go out together and the server runs them while Python works: the read first, as a
  transaction of its own, so its rows come back (and are decoded) while the server still writes; the write
  after it, so no snapshot older than a write holds back the pruning of the row versions it leaves behind
  (the next write finds room in its pages: updates stay HOT). Write transactions commit asynchronously
  (``synchronous_commit = off``, their own setting only): the server does not wait for the disk at each
  batch. Before the rewriter closes, one synchronous commit flushes the write-ahead log up to the last
  batch, so what a finished pass counted is durable; a server crash mid-pass loses at most the last
  batches (a fraction of a second), whose rows are still under the key they had (see docs/operations.md).
- SQLite: one helper thread writes, then reads (``sqlite3`` releases the GIL while a statement runs); the
  read starts once the write has committed, so no reader stops the WAL from being reset.

One batch is in flight at a time and its connection goes back to the pool on ``receive()``: a rewrite
holds at most one connection and leaves the pool free between batches (a conflict's retry borrows one).
A process killed mid-batch loses at most that transaction: every row is either rewritten or not.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any

from fluxnex.storage.store import _scale

__all__ = ["DataRewriter", "Updates"]

Updates = Sequence[tuple[uuid.UUID, int, dict[str, Any]]]
Position = int | uuid.UUID


class DataRewriter:
    """Writes one batch and reads the next while the caller works; a context manager (``store.rewriter()``)."""

    def __init__(
        self,
        dialect: str,
        limit: int,
        borrow: Callable[[], AbstractContextManager[Any]],
        write: Callable[[Updates], list[uuid.UUID]],
        read: Callable[[Position, int], list[_scale.DataRow]],
    ) -> None:
        """Read ``limit`` rows a batch; ``borrow`` lends a pooled DBAPI connection in autocommit (PostgreSQL's
        pipeline), ``write``/``read`` are the store's own (SQLite's thread)."""
        self._borrow = borrow
        self._write = write
        self._read = read
        self._limit = limit
        self._pipelined = dialect == "postgresql"
        self._thread = None if self._pipelined else ThreadPoolExecutor(1, thread_name_prefix="fluxnex-rewrite")
        self._pending: Future[tuple[list[uuid.UUID], list[_scale.DataRow]]] | _InFlight | None = None
        self._unflushed = False  # PostgreSQL: a batch committed asynchronously since the last flush

    def __enter__(self) -> DataRewriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._pending is not None:  # the batch in flight is finished (committed), whatever happened
                try:
                    self.receive()
                except Exception:
                    if exc is None:
                        raise
            if self._unflushed:
                self._flush(exc)
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=True)

    def send(self, updates: Updates, after: int | uuid.UUID | None) -> None:
        """Start writing ``updates`` and reading the batch after position ``after`` (None: read nothing)."""
        if self._pending is not None:
            raise RuntimeError("DataRewriter.send: the previous batch was not received")
        if self._thread is not None:
            self._pending = self._thread.submit(self._write_then_read, updates, after)
        else:
            self._pending = _InFlight(self._borrow, updates, after, self._limit)
            self._unflushed = self._unflushed or bool(updates)

    def receive(self) -> tuple[list[uuid.UUID], list[_scale.DataRow]]:
        """Wait for the batch sent last: the ids whose version had moved (not written), and the rows read."""
        pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError("DataRewriter.receive: nothing was sent")
        return pending.result()

    def _flush(self, exc: BaseException | None) -> None:
        """Make the asynchronous commits durable: a synchronous commit flushes the log up to it (and them)."""
        try:
            with self._borrow() as driver, driver.transaction():  # an id of its own: its commit is waited for
                driver.execute("SELECT pg_current_xact_id()")
            self._unflushed = False
        except Exception:
            if exc is None:  # a failure of its own is the caller's to see; after another one, that one stands
                raise

    def _write_then_read(
        self, updates: Updates, after: int | uuid.UUID | None
    ) -> tuple[list[uuid.UUID], list[_scale.DataRow]]:
        conflicts = self._write(updates)
        return conflicts, (self._read(after, self._limit) if after is not None else [])


class _InFlight:
    """One PostgreSQL pipeline sent: read, COMMIT, write, COMMIT; the rows read are decoded as the write runs.

    ``result`` takes the write's result and returns the connection. Reading on a second connection while the
    first writes was measured too: no faster on this 2-core machine, and the table grew more (its snapshot,
    older than the write's commit, holds back pruning while it runs).
    """

    def __init__(
        self,
        borrow: Callable[[], AbstractContextManager[Any]],
        updates: Updates,
        after: uuid.UUID | int | None,
        limit: int,
    ) -> None:
        self._write = None
        self._updates = updates
        self._rows: list[_scale.DataRow] = []
        with ExitStack() as stack:
            driver = stack.enter_context(borrow())  # autocommit: the transactions below are explicit
            stack.enter_context(driver.pipeline())
            read = None
            if after is not None:  # a transaction of its own, over before the write starts
                driver.execute("BEGIN")
                read = driver.cursor(binary=True)
                read.execute(_scale.PG_READ_DATA, (after, limit))
                driver.execute("COMMIT")
            if updates:
                driver.execute("BEGIN")
                driver.execute(_ASYNC_COMMIT)
                self._write = driver.cursor()
                self._write.execute(_scale.PG_SET_DATA, (_scale.pg_batch(updates), dt.datetime.now(dt.UTC)))
                driver.execute("COMMIT")  # queued like the rest: nothing waits here
            if read is not None:  # its result comes back before the write's: decoded while the server writes
                self._rows = _scale.pg_rows(read.fetchall())
            self._stack = stack.pop_all()

    def result(self) -> tuple[list[uuid.UUID], list[_scale.DataRow]]:
        with self._stack:  # leaves the pipeline (every result read), then gives the connection back
            conflicts = _scale.pg_conflicts(self._updates, self._write.fetchall()) if self._write else []
        return conflicts, self._rows


#: A rewrite batch's transaction does not wait for its commit record to reach the disk (``DataRewriter``).
_ASYNC_COMMIT = "SET LOCAL synchronous_commit = off"
