"""Queries whose cost must not grow with the table: the refresh claim, the status counts, batched data writes.

- The claim walks the partial index ``ix_connection_due`` in ``refresh_at`` order (the moment each token
  becomes due, ``lifecycle.tokens``) and stops at its ``LIMIT`` (no sort, no read of every due row), then updates
  the picked rows by primary key. Rows whose ``refresh_at`` has passed are due ones only (the horizon filter
  ``expires_at <= :horizon_until`` drops only rows of a worker run with a horizon below the default), so a claim
  reads what it takes whatever the backlog.
- The counts read ``connection_count``, which triggers keep exact (migration 0003): a few rows, whatever the
  table holds.
- A batch of ``data`` rewrites (key rotation) is one statement on PostgreSQL (``UPDATE ... FROM
  jsonb_to_recordset(...)``) and one transaction of prepared statements on SQLite, compare-and-set on
  ``version`` per row; rotation reads its batches with the columns it needs alone.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from fluxnex.storage.store._models import CLAIMABLE_SQL, Status, UTCDateTime, connection_count_table

__all__ = [
    "DUE_INDEX",
    "DataRow",
    "DataUpdates",
    "claim_pick",
    "count_all",
    "count_by_status",
    "loads_text",
    "read_data_after",
    "rewrite_batch_limit",
    "write_data_batch",
]

DUE_INDEX = "ix_connection_due"


_DUE = (
    f"{CLAIMABLE_SQL} AND refresh_at <= :now AND expires_at <= :horizon_until"  # literal: proves the partial index's
    " AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < :now)"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= :now)"
)
# Fixed SQL, no input in it. SQLite's planner, without statistics, prefers (status, expires_at) and a sort:
# name the index.
# lease_owner: a claimable row with an owner is a lapsed lease, taken over (``fluxnex_lease_takeovers_total``).
_PICK = {
    "sqlite": f"SELECT id, lease_owner FROM connection INDEXED BY {DUE_INDEX} WHERE {_DUE}"  # noqa: S608
    " ORDER BY refresh_at LIMIT :limit",
    "postgresql": f"SELECT id, lease_owner FROM connection WHERE {_DUE}"  # noqa: S608
    " ORDER BY refresh_at LIMIT :limit FOR UPDATE SKIP LOCKED",
}


def claim_pick(dialect: str, horizon_until: dt.datetime, now: dt.datetime, limit: int) -> sa.TextualSelect:
    """The ids to claim, longest due first, read in index order (PostgreSQL: locked, skipping locked rows)."""
    return (
        sa.text(_PICK[dialect])
        .bindparams(
            sa.bindparam("horizon_until", horizon_until, type_=UTCDateTime()),
            sa.bindparam("now", now, type_=UTCDateTime()),
            sa.bindparam("limit", limit, type_=sa.Integer()),
        )
        .columns(id=sa.Uuid(), lease_owner=sa.String())
    )


def count_all(conn: sa.Connection) -> int:
    """Every connection, whatever its status, from the trigger-kept counts."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(connection_count_table.c.n), 0))).scalar_one())


def count_by_status(conn: sa.Connection) -> dict[Status, int]:
    """Connections per status from the trigger-kept counts (every known status present, zero included)."""
    c = connection_count_table.c
    counts = {s: 0 for s in Status}
    for status, n in conn.execute(sa.select(c.status, sa.func.sum(c.n)).group_by(c.status)):
        try:
            counts[Status(status)] += int(n)
        except ValueError:  # a status a newer FluxNex wrote: not ours to name
            continue
    return counts


class DataRow(NamedTuple):
    """What re-encrypting a row needs: its identity (the associated data), version (compare-and-set) and data.

    ``position`` orders the pass over the table: the rowid on SQLite (physical order: a transaction rewrites
    whole pages, the fewest WAL pages), the id on PostgreSQL (random over pages: new row versions spread
    over the pages' free room, so the updates stay HOT).
    """

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    name: str
    version: int
    data: dict[str, Any]
    position: int | uuid.UUID


PG_READ_DATA = (
    "SELECT id, tenant_id, type, name, version, data::text FROM connection WHERE id > %s ORDER BY id LIMIT %s"
)
_SQLITE_READ_DATA = (
    "SELECT id, tenant_id, type, name, version, data, rowid FROM connection WHERE rowid > ? ORDER BY rowid LIMIT ?"
)
_NO_ID = uuid.UUID(int=0)
_DECODER = json.JSONDecoder()


def loads_text(text: str) -> Any:
    """``json.loads`` of a stored document, at a third of its cost for text the database wrote (no padding)."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)  # raises the same error json.loads would (or accepts leading whitespace)
    return value if end == len(text) else json.loads(text)


def pg_rows(fetched: Sequence[tuple[Any, ...]]) -> list[DataRow]:
    """``DataRow``s of ``PG_READ_DATA``'s result (binary cursor): the id is the position."""
    return [DataRow(i, t, ty, n, v, loads_text(d), i) for i, t, ty, n, v, d in fetched]


def read_data_after(
    conn: sa.Connection, dialect: str, position: int | uuid.UUID | None, limit: int
) -> list[DataRow]:
    """Up to ``limit`` rows after ``position`` (a ``DataRow.position``; None: from the start), data decoded."""
    driver: Any = conn.connection.driver_connection
    if dialect == "postgresql":
        with driver.cursor(binary=True) as cursor:  # the pool rolls the read's transaction back on return
            cursor.execute(PG_READ_DATA, (position or _NO_ID, limit))
            return pg_rows(cursor.fetchall())
    cursor = driver.cursor()
    try:
        cursor.execute(_SQLITE_READ_DATA, (position or 0, limit))
        tenants: dict[str, uuid.UUID] = {}  # a tenant has many rows: one UUID object each
        out = []
        for i, t, ty, n, v, d, p in cursor.fetchall():
            tenant = tenants.get(t)
            if tenant is None:
                tenant = tenants[t] = uuid.UUID(t)
            out.append(DataRow(uuid.UUID(i), tenant, ty, n, v, loads_text(d), p))
        return out
    finally:
        cursor.close()


#: Fewest rows per rewrite batch the limit below ever asks for.
MIN_REWRITE_BATCH = 50


def rewrite_batch_limit(conn: sa.Connection, dialect: str) -> int | None:
    """Most rows one transaction should rewrite so the new versions stay in their pages (PostgreSQL), or None.

    A page keeps its fillfactor room (85%: about two new row versions) and can prune the versions an earlier,
    committed batch left behind; rows one transaction rewrites cannot be pruned until it commits. Rows are
    taken in id order, which is random over pages, so a batch of at most half as many rows as the table has
    pages puts about one new version in a page per transaction. Large tables are never limited by this.
    """
    if dialect != "postgresql":
        return None
    pages = conn.exec_driver_sql(
        "SELECT pg_relation_size('connection') / current_setting('block_size')::integer"
    ).scalar_one()
    return max(MIN_REWRITE_BATCH, int(pages) // 2)


# The batch is parsed once (``v``); only the rows that did not match their id and version come back.
PG_SET_DATA = (
    "WITH v AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v(id uuid, version integer, data jsonb)), "
    "u AS (UPDATE connection AS c SET data = v.data, version = c.version + 1, updated_at = %s "
    "FROM v WHERE c.id = v.id AND c.version = v.version RETURNING c.id) "
    "SELECT v.id FROM v WHERE v.id NOT IN (SELECT id FROM u)"
)
_SQLITE_IN_MAX = 500  # ids per conflict lookup (SQLite before 3.32 binds at most 999 variables)
_SQLITE_SET_DATA = "UPDATE connection SET data = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?"

#: A batch of rewrites: (id, expected version, the new ``data`` as JSON text, e.g. ``Keyring.encrypt_json``).
#: Each text must be new to its row (a fresh envelope is): SQLite tells a conflicted row by its text.
DataUpdates = Sequence[tuple[uuid.UUID, int, str]]


def pg_batch(updates: DataUpdates) -> str:
    """``PG_SET_DATA``'s batch: one JSON document, joined from the rows' JSON texts (nothing encoded again)."""
    return "[" + ",".join([f'{{"id":"{i.hex}","version":{v:d},"data":{d}}}' for i, v, d in updates]) + "]"


def pg_conflicts(updates: DataUpdates, fetched: Sequence[tuple[Any, ...]]) -> list[uuid.UUID]:
    """The ids of ``updates`` that ``PG_SET_DATA`` returned (not written: their version had moved), in order."""
    conflicted = {row[0] for row in fetched}
    return [i for i, _, _ in updates if i in conflicted] if conflicted else []


def write_data_batch(conn: sa.Connection, dialect: str, updates: DataUpdates, now: dt.datetime) -> list[uuid.UUID]:
    """Set ``data`` on many rows by compare-and-set in the caller's transaction; return the ids that conflicted."""
    if not updates:
        return []
    cursor: Any = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if dialect == "postgresql":
            cursor.execute(PG_SET_DATA, (pg_batch(updates), now))
            return pg_conflicts(updates, cursor.fetchall())
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        cursor.executemany(_SQLITE_SET_DATA, [(data, stamp, cid.hex, version) for cid, version, data in updates])
        if cursor.rowcount == len(updates):  # the total: every row was written
            return []
        # Some version had moved. Still inside this write transaction, a row this batch wrote holds its text
        # (a fresh nonce each: no other write holds the same); the others conflicted (or were deleted).
        stored: dict[str, str] = {}
        for start in range(0, len(updates), _SQLITE_IN_MAX):  # within any SQLite's limit of bound variables
            ids = [u[0].hex for u in updates[start:start + _SQLITE_IN_MAX]]
            marks = ",".join("?" * len(ids))  # fixed SQL: one placeholder per row
            cursor.execute(f"SELECT id, data FROM connection WHERE id IN ({marks})", ids)  # noqa: S608
            stored.update(cursor.fetchall())
        return [cid for cid, _, data in updates if stored.get(cid.hex) != data]
    finally:
        cursor.close()
