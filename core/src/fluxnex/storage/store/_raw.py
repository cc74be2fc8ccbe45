"""The hot path: DBAPI connections borrowed from the bounded pool, prepared SQL and cheap row decoding."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from fluxnex.storage.store._errors import DriverErrors
from fluxnex.storage.store._models import COLUMNS, ConnectionRow, Status

UTC = dt.UTC
_STATUS = {s.value: s for s in Status}
_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM connection"  # noqa: S608 - fixed column names
_fromiso = dt.datetime.fromisoformat
_UUID = uuid.UUID


def _sqlite_dt(value: str | None) -> dt.datetime | None:
    return None if value is None else _fromiso(value).replace(tzinfo=UTC)


def _pg_dt(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is UTC else value.astimezone(UTC)


class RawAccess:
    """Pooled autocommit DBAPI connections with dialect-specific SQL and codecs."""

    def __init__(self, engine: sa.Engine, errors: DriverErrors) -> None:
        """Prepare the SQL strings and codecs for the engine's dialect."""
        self._engine = engine
        self._pool = engine.pool
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.errors = errors
        self.sqlite = engine.dialect.name == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self._update_sql: dict[tuple[Any, ...], str] = {}
        self.sql_insert = (
            f"INSERT INTO connection ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"  # noqa: S608
        )
        if self.sqlite:
            self.sql_get = _SELECT + " WHERE tenant_id = ? AND name = ?"
            self.sql_get_id = _SELECT + " WHERE id = ?"
            self.sql_after = _SELECT + " WHERE id > ? ORDER BY id LIMIT ?"
            self.sql_first = _SELECT + " ORDER BY id LIMIT ?"
            self.sql_set_data = (
                "UPDATE connection SET data = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?"
            )
            self.decode: Callable[[Sequence[Any]], ConnectionRow] = self._decode_sqlite
        else:
            self.sql_get = _SELECT + " WHERE tenant_id = %s AND name = %s"
            self.sql_get_id = _SELECT + " WHERE id = %s"
            self.sql_after = _SELECT + " WHERE id > %s ORDER BY id LIMIT %s"
            self.sql_first = _SELECT + " ORDER BY id LIMIT %s"
            self.sql_set_data = (
                "UPDATE connection SET data = %s, version = version + 1, updated_at = %s WHERE id = %s AND version = %s"
            )
            self.decode = self._decode_pg

    # -- value encoding -------------------------------------------------------------------------

    def uuid_param(self, value: uuid.UUID) -> Any:
        """Encode a UUID as the driver stores it."""
        return value.hex if self.sqlite else value

    def dt_param(self, value: dt.datetime) -> Any:
        """Encode an aware datetime as the driver stores it (SQLite: SQLAlchemy's naive UTC text)."""
        if self.sqlite:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return value

    def json_param(self, value: dict[str, Any]) -> Any:
        """Encode a JSON document for the data column."""
        if self.sqlite:
            return json.dumps(value)
        from psycopg.types.json import Jsonb

        return Jsonb(value)

    # -- decoding -------------------------------------------------------------------------------

    @staticmethod
    def _decode_sqlite(r: Sequence[Any]) -> ConnectionRow:
        return ConnectionRow(
            _UUID(r[0]), _UUID(r[1]), r[2], r[3], json.loads(r[4]), _STATUS[r[5]],
            None if r[6] is None else _fromiso(r[6]).replace(tzinfo=UTC),
            r[7], r[8], _sqlite_dt(r[9]), r[10], r[11], _sqlite_dt(r[12]), _sqlite_dt(r[13]),
            _fromiso(r[14]).replace(tzinfo=UTC), _fromiso(r[15]).replace(tzinfo=UTC), _sqlite_dt(r[16]),
            _sqlite_dt(r[17]),
        )  # fmt: skip

    @staticmethod
    def _decode_pg(r: Sequence[Any]) -> ConnectionRow:
        data = r[4] if isinstance(r[4], dict) else json.loads(r[4])
        return ConnectionRow(
            r[0], r[1], r[2], r[3], data, _STATUS[r[5]], _pg_dt(r[6]), r[7], r[8], _pg_dt(r[9]),
            r[10], r[11], _pg_dt(r[12]), _pg_dt(r[13]), _pg_dt(r[14]), _pg_dt(r[15]), _pg_dt(r[16]),
            _pg_dt(r[17]),
        )  # fmt: skip

    # -- connections ----------------------------------------------------------------------------

    @property
    def pool(self) -> Any:
        """The engine's bounded pool (replaced after a fork: a child never uses its parent's sockets)."""
        if self._pid != os.getpid():
            self._after_fork()
        return self._pool

    def _after_fork(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._engine.dispose(close=False)
                self._pool = self._engine.pool
                self._pid = os.getpid()

    def checkout(self) -> tuple[Any, Any]:
        """Borrow a (record, DBAPI connection) from the pool; ``checkin`` gives it back.

        The pool is the engine's own (``QueuePool``, ``max_overflow=0``): the hot path borrows its records
        directly, without SQLAlchemy's per-checkout proxy, events and reset, and SQLAlchemy Core shares the
        same connections, so one number bounds the process. PostgreSQL connections run in autocommit while
        lent here (SQLAlchemy's own transactions need it off).
        """
        pool = self.pool
        try:
            rec = pool._do_get()
        except sa.exc.TimeoutError as exc:
            raise self.errors.pool_timeout(pool) from exc
        except Exception as exc:
            raise self.errors.wrap(exc) from exc
        try:
            conn = rec.get_connection()
            if not self.sqlite:
                conn.autocommit = True
        except BaseException as exc:
            rec.invalidate(exc if isinstance(exc, Exception) else None)
            pool._do_return_conn(rec)
            if isinstance(exc, Exception):
                raise self.errors.wrap(exc) from exc
            raise
        return rec, conn

    def checkin(self, rec: Any, conn: Any, broken: BaseException | None = None) -> None:
        """Return a borrowed connection (``broken``: close it first; the next borrower reconnects)."""
        if broken is None and not self.sqlite:
            try:
                conn.autocommit = False
            except Exception as exc:  # the connection is not idle (broken mid-transaction): drop it
                broken = exc
        if broken is not None:
            rec.invalidate(broken if isinstance(broken, Exception) else None)
        self._pool._do_return_conn(rec)

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        """A pooled DBAPI connection for the block (autocommit; a driver error closes it)."""
        rec, conn = self.checkout()
        try:
            yield conn
        except BaseException as exc:
            self.checkin(rec, conn, exc if self._breaks(exc) else None)
            raise
        else:
            self.checkin(rec, conn)

    def _breaks(self, exc: BaseException) -> bool:
        """Whether ``exc`` may have left the connection unusable (then it is closed, not reused)."""
        if self.sqlite:
            broken = sqlite3.OperationalError | sqlite3.InterfaceError
            return not isinstance(exc, sqlite3.Error) or isinstance(exc, broken)
        import psycopg

        return not isinstance(exc, psycopg.Error) or isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def fetch_one(self, sql: str, params: Sequence[Any]) -> ConnectionRow | None:
        """Run a single-row SELECT on a pooled connection (PostgreSQL: once more on a new one if it dropped)."""
        for attempt in (0, 1):
            rec, conn = self.checkout()
            try:
                row = conn.execute(sql, params).fetchone()
            except Exception as exc:
                broken = self._breaks(exc)
                self.checkin(rec, conn, exc if broken else None)
                if attempt or not broken or self.sqlite:
                    raise self.errors.wrap(exc) from exc
                continue
            self.checkin(rec, conn)
            if row is None:
                return None
            return self._decode_sqlite(row) if self.sqlite else self._decode_pg(row)
        raise AssertionError("unreachable")  # pragma: no cover

    def param(self, column: str, value: Any) -> Any:
        """Encode ``value`` of ``column`` as the driver stores it."""
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return self.uuid_param(value)
        if isinstance(value, dt.datetime):
            return self.dt_param(value)
        if column == "data":
            return self.json_param(value)
        if column == "status":
            return Status(value).value
        return value

    def _run(self, sql: str, params: Sequence[Any], *, returns: bool = True) -> Any:
        """Execute on a pooled autocommit connection; the first row (or None). Driver errors as DatabaseError."""
        rec, conn = self.checkout()
        try:
            cur = conn.execute(sql, params)
            row = cur.fetchone() if returns else None
        except Exception as exc:
            self.checkin(rec, conn, exc if self._breaks(exc) else None)
            if _is_integrity(exc):
                raise
            raise self.errors.wrap(exc) from exc
        self.checkin(rec, conn)
        return row

    def insert(self, row: ConnectionRow) -> None:
        """INSERT one row on this thread's autocommit connection; the driver's IntegrityError on a duplicate."""
        self._run(self.sql_insert, [self.param(column, getattr(row, column)) for column in COLUMNS], returns=False)

    def update(
        self, values: dict[str, Any], *, bump_version: bool, where: str, where_params: Sequence[Any]
    ) -> ConnectionRow | None:
        """One autocommit ``UPDATE ... WHERE where RETURNING *`` (``{p}`` marks placeholders in ``where``).

        The refresh path's lease writes go through here: SQLAlchemy's per-statement overhead was most of
        their cost.
        """
        columns = tuple(sorted(values))
        key = (columns, bump_version, where)
        sql = self._update_sql.get(key)
        if sql is None:
            mark = "?" if self.sqlite else "%s"
            sets = [f"{c} = {mark}" for c in columns] + (["version = version + 1"] if bump_version else [])
            sql = (
                f"UPDATE connection SET {', '.join(sets)} WHERE {where.format(p=mark)} "  # noqa: S608 - fixed names
                f"RETURNING {', '.join(COLUMNS)}"
            )
            self._update_sql[key] = sql
        params = [self.param(c, values[c]) for c in columns] + list(where_params)
        row = self._run(sql, params)
        return None if row is None else self.decode(row)

    def fetch_all(self, sql: str, params: Sequence[Any]) -> list[ConnectionRow]:
        """Run a SELECT on a pooled connection and decode every row."""
        rec, conn = self.checkout()
        cur = conn.cursor()
        try:
            cur.execute(sql, params)
            rows = cur.fetchall()
        except Exception as exc:
            cur.close()
            self.checkin(rec, conn, exc if self._breaks(exc) else None)
            raise self.errors.wrap(exc) from exc
        cur.close()
        self.checkin(rec, conn)
        return [self.decode(r) for r in rows]


def _is_integrity(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is optional
        return False
    return isinstance(exc, psycopg.IntegrityError)
