"""The hot path: per-thread DBAPI connections, prepared SQL and cheap row decoding per dialect."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from fluxnex.store._engine import raw_connect
from fluxnex.store._models import COLUMNS, ConnectionRow, Status

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
    """Per-thread autocommit DBAPI connections with dialect-specific SQL and codecs."""

    def __init__(self, engine: sa.Engine) -> None:
        """Prepare the SQL strings and codecs for the engine's dialect."""
        self._engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []
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
        )  # fmt: skip

    @staticmethod
    def _decode_pg(r: Sequence[Any]) -> ConnectionRow:
        data = r[4] if isinstance(r[4], dict) else json.loads(r[4])
        return ConnectionRow(
            r[0], r[1], r[2], r[3], data, _STATUS[r[5]], _pg_dt(r[6]), r[7], r[8], _pg_dt(r[9]),
            r[10], r[11], _pg_dt(r[12]), _pg_dt(r[13]), _pg_dt(r[14]), _pg_dt(r[15]), _pg_dt(r[16]),
        )  # fmt: skip

    # -- connections ----------------------------------------------------------------------------

    def connection(self) -> Any:
        """Return this thread's DBAPI connection, opening it on first use (and after a fork)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = raw_connect(self._engine)
            local.conn, local.pid = conn, os.getpid()
            with self._lock:
                self._all.append(conn)
        return conn

    def reset(self) -> None:
        """Drop this thread's connection (after an error that broke it)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):  # best effort: the connection may be broken
                conn.close()

    def fetch_one(self, sql: str, params: Sequence[Any]) -> ConnectionRow | None:
        """Run a single-row SELECT on this thread's connection (PostgreSQL: reconnect once if dropped)."""
        if self.sqlite:
            row = self.connection().execute(sql, params).fetchone()
            return None if row is None else self._decode_sqlite(row)
        import psycopg

        for attempt in (0, 1):
            try:
                row = self.connection().execute(sql, params).fetchone()
                break
            except psycopg.OperationalError:
                self.reset()
                if attempt:
                    raise
        return None if row is None else self._decode_pg(row)

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

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        """Execute on this thread's autocommit connection (PostgreSQL: drop it when the error broke it)."""
        if self.sqlite:
            return self.connection().execute(sql, params)
        try:
            return self.connection().execute(sql, params)
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.OperationalError):
                self.reset()
            raise

    def insert(self, row: ConnectionRow) -> None:
        """INSERT one row on this thread's autocommit connection; the driver's IntegrityError on a duplicate."""
        self._run(self.sql_insert, [self.param(column, getattr(row, column)) for column in COLUMNS])

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
        row = self._run(sql, params).fetchone()
        return None if row is None else self.decode(row)

    def fetch_all(self, sql: str, params: Sequence[Any]) -> list[ConnectionRow]:
        """Run a SELECT on this thread's connection and decode every row."""
        conn = self.connection()
        cur = conn.cursor()
        try:
            cur.execute(sql, params)
            return [self.decode(r) for r in cur.fetchall()]
        except Exception:
            if not self.sqlite:
                self.reset()
            raise
        finally:
            cur.close()

    def close_all(self) -> None:
        """Close every connection this object opened in this process."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):  # best effort: the connection may be broken
                conn.close()
        self._local = threading.local()
