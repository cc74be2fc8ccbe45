"""A pass that rewrites ``data`` batch by batch (key rotation), with the database working while the caller does.

``DataRewriter.send(updates, after)`` starts writing one batch (compare-and-set on each row's version) and
reading the batch after ``after``; ``receive()`` waits for both and returns the ids that conflicted and the
rows read. Between the two the caller re-encrypts the batch in hand.

- PostgreSQL: one pooled connection in pipeline mode, no helper thread. The write, its ``COMMIT``, the read
  of the next batch and its ``COMMIT`` go out together and the server runs them while Python re-encrypts;
  nothing is waited for until ``receive()``. The read is a transaction of its own after the write's, so no
  snapshot older than a write holds back the pruning of the row versions it leaves behind (the next write
  finds room in its pages: updates stay HOT). Write transactions commit asynchronously
  (``synchronous_commit = off``, their own setting only): the server does not wait for the disk at each
  batch. Before the rewriter closes, one synchronous commit flushes the write-ahead log up to the last
  batch, so what a finished pass counted is durable; a server crash mid-pass loses at most the last
  batches (a fraction of a second), whose rows are still under the key they had (see docs/operations.md).
- SQLite: ``send`` writes, then reads, before it returns: in-process, the database work is short (about
  7 us a row here), and a helper thread was no faster (10% slower in paired runs): each ``sqlite3``
  statement gives up the GIL and waits to get it back from the re-encrypting thread, and ``os.urandom``
  (a nonce a row) gives it away too.

One batch is in flight at a time and its connection goes back to the pool on ``receive()``: a rewrite
holds at most one connection and leaves the pool free between batches (a conflict's retry borrows one).
A process killed mid-batch loses at most that transaction: every row is either rewritten or not.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any, NamedTuple

from fluxnex.storage.store import _scale

__all__ = ["DataRewriter", "Updates"]

Updates = _scale.DataUpdates
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
        pipeline), ``write``/``read`` are the store's own (SQLite)."""
        self._borrow = borrow
        self._write = write
        self._read = read
        self._limit = limit
        self._pipelined = dialect == "postgresql"
        self._pending: _Done | _InFlight | None = None
        self._unflushed = False  # PostgreSQL: a batch committed asynchronously since the last flush

    def __enter__(self) -> DataRewriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pending is not None:  # the batch in flight is finished (committed), whatever happened
            try:
                self.receive()
            except Exception:
                if exc is None:
                    raise
        if self._unflushed:
            self._flush(exc)

    def send(self, updates: Updates, after: int | uuid.UUID | None) -> None:
        """Start writing ``updates`` and reading the batch after position ``after`` (None: read nothing)."""
        if self._pending is not None:
            raise RuntimeError("DataRewriter.send: the previous batch was not received")
        if self._pipelined:
            self._pending = _InFlight(self._borrow, updates, after, self._limit)
            self._unflushed = self._unflushed or bool(updates)
        else:
            conflicts = self._write(updates)
            self._pending = _Done(conflicts, self._read(after, self._limit) if after is not None else [])

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


class _Done(NamedTuple):
    """SQLite's batch, written and the next one read before ``send`` returns."""

    conflicts: list[uuid.UUID]
    rows: list[_scale.DataRow]

    def result(self) -> tuple[list[uuid.UUID], list[_scale.DataRow]]:
        return self.conflicts, self.rows


class _InFlight:
    """One PostgreSQL pipeline sent: write, COMMIT, read, COMMIT; nothing is waited for until ``result``.

    The server runs the batch while Python re-encrypts the next one; ``result`` takes both results, decodes
    the rows read and returns the connection. The read comes after the write's commit, on the same connection,
    so no snapshot older than the write is open while it runs (pruning is never held back). Reading on a second
    connection while the first writes was measured too: no faster on this 2-core machine, and the table grew
    more (its snapshot, older than the write's commit, holds back pruning while it runs).
    """

    def __init__(
        self,
        borrow: Callable[[], AbstractContextManager[Any]],
        updates: Updates,
        after: uuid.UUID | int | None,
        limit: int,
    ) -> None:
        self._write = self._read = None
        self._updates = updates
        with ExitStack() as stack:
            driver = stack.enter_context(borrow())  # autocommit: the transactions below are explicit
            stack.enter_context(driver.pipeline())
            if updates:
                driver.execute("BEGIN")
                driver.execute(_ASYNC_COMMIT)
                self._write = driver.cursor()
                self._write.execute(_scale.PG_SET_DATA, (_scale.pg_batch(updates), dt.datetime.now(dt.UTC)))
                driver.execute("COMMIT")  # queued like the rest: nothing waits here
            if after is not None:  # a transaction of its own, after the write's commit
                driver.execute("BEGIN")
                self._read = driver.cursor(binary=True)
                self._read.execute(_scale.PG_READ_DATA, (after, limit))
                driver.execute("COMMIT")
            self._stack = stack.pop_all()

    def result(self) -> tuple[list[uuid.UUID], list[_scale.DataRow]]:
        with self._stack:  # leaves the pipeline (every result read), then gives the connection back
            conflicts = _scale.pg_conflicts(self._updates, self._write.fetchall()) if self._write else []
            rows = _scale.pg_rows(self._read.fetchall()) if self._read else []
        return conflicts, rows


#: A rewrite batch's transaction does not wait for its commit record to reach the disk (``DataRewriter``).
_ASYNC_COMMIT = "SET LOCAL synchronous_commit = off"
