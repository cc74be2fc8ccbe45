"""Read-only access to a SQLite store with the standard library alone, for commands that only read.

Importing SQLAlchemy takes longer than a whole ``fluxnex connections list`` should (4x ``python -c "import
click"`` on its own), so ``CredentialManager`` reads through this while it has written nothing: one ``sqlite3``
connection with ``PRAGMA query_only`` (shared by threads under a lock), opened only when the file exists and
its schema is exactly at head. Anything else (a new or older database, PostgreSQL, a URL with options) gets
``None`` from :meth:`SQLiteReader.open`, and the caller uses the full ``ConnectionStore``.

Values are decoded as SQLAlchemy stores them on SQLite: UUIDs as 32 hex digits, timestamps as naive UTC text.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fluxnex.storage.store._rows import COLUMN_NAMES, ConnectionRow, Status
from fluxnex.storage.store._schema_check import fast_head_revision

__all__ = ["SQLiteReader"]

UTC = dt.UTC
_SELECT = "SELECT " + ", ".join(COLUMN_NAMES) + " FROM connection"  # noqa: S608 - fixed column names
_STATUS = {s.value: s for s in Status}


def _when(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=UTC)


def _decode(r: Sequence[Any]) -> ConnectionRow:
    created, updated = _when(r[14]), _when(r[15])
    return ConnectionRow(
        uuid.UUID(r[0]), uuid.UUID(r[1]), r[2], r[3], json.loads(r[4]), _STATUS[r[5]], _when(r[6]), r[7], r[8],
        _when(r[9]), r[10], r[11], _when(r[12]), _when(r[13]), created, updated, _when(r[16]), _when(r[17]),
    )  # fmt: skip


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL (no driver, no options), else None."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix):]
    return Path(path).expanduser() if path and path != ":memory:" else None


class SQLiteReader:
    """Reads of the ``connection`` table: ``get``, ``get_by_id``, ``list``, ``count_by_status``, ``revision``."""

    def __init__(self, conn: sqlite3.Connection, revision: str) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.revision = revision

    @classmethod
    def open(cls, url: str) -> SQLiteReader | None:
        """A reader of the database at ``url``, or None when the full store must be used."""
        path = sqlite_path(url)
        head = fast_head_revision()
        if path is None or head is None or not path.is_file():
            return None
        try:
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        except sqlite3.Error:
            return None
        try:
            conn.execute("PRAGMA query_only = ON")
            versions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
        except sqlite3.Error:
            versions = []
        if versions != [head]:
            conn.close()
            return None
        return cls(conn, head)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def get(self, tenant_id: uuid.UUID, name: str) -> ConnectionRow | None:
        """The connection ``name`` of a tenant, or None."""
        rows = self._rows(_SELECT + " WHERE tenant_id = ? AND name = ?", (tenant_id.hex, name))
        return _decode(rows[0]) if rows else None

    def get_by_id(self, connection_id: uuid.UUID) -> ConnectionRow | None:
        """The connection with that id, or None."""
        rows = self._rows(_SELECT + " WHERE id = ?", (connection_id.hex,))
        return _decode(rows[0]) if rows else None

    def list(self, tenant_id: uuid.UUID | None = None, type: str | None = None,
             status: Status | str | None = None) -> list[ConnectionRow]:
        """The matching connections ordered by tenant and name."""
        where, params = [], []
        for column, value in (("tenant_id", tenant_id.hex if tenant_id else None), ("type", type),
                              ("status", Status(status).value if status is not None else None)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY tenant_id, name"
        return [_decode(r) for r in self._rows(sql, params)]

    def count_by_status(self) -> dict[Status, int]:
        """The number of connections in each status (every status present, zero included).

        From the trigger-kept ``connection_count`` table (migration 0003), as ``ConnectionStore`` reads it.
        """
        counts = dict.fromkeys(Status, 0)
        for status, n in self._rows("SELECT status, SUM(n) FROM connection_count GROUP BY status"):
            if status in _STATUS:  # a status a newer FluxNex wrote: not ours to name
                counts[_STATUS[status]] += int(n)
        return counts

    def recorded_fingerprints(self) -> dict[str, str]:
        """``{kid: fingerprint}`` as recorded in the ``key_fingerprint`` table (``storage.key_fingerprints``)."""
        return {kid: fp for kid, fp in self._rows("SELECT kid, fingerprint FROM key_fingerprint")}

    def rows_per_kid(self) -> dict[str | None, int]:
        """How many connections each key id encrypts (every envelope's plaintext ``kid``: reads the table)."""
        sql = "SELECT json_extract(data, '$.kid'), count(*) FROM connection GROUP BY 1"
        return {kid: int(n) for kid, n in self._rows(sql)}

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
