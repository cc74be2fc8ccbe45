"""``ConnectionStore``: inserts, the hot-path read, compare-and-set writes, leases and claims."""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fluxnex.errors import ConnectionExists
from fluxnex.store._engine import check_schema, create_engine, ensure_schema
from fluxnex.store._models import ConnectionRow, Status, connection_table, utc
from fluxnex.store._raw import RawAccess

__all__ = ["CHANGEABLE", "ConnectionStore"]

UTC = dt.UTC
T = connection_table
CHANGEABLE = frozenset(
    {
        "data", "name", "status", "expires_at", "refresh_failures", "last_error", "next_attempt_at",
        "last_refreshed_at", "lease_owner", "lease_until", "refresh_expires_at",
    }
)  # fmt: skip
_STATUS = {s.value: s for s in Status}


def _now(now: dt.datetime | None = None) -> dt.datetime:
    value = utc(now) if now is not None else dt.datetime.now(UTC)
    assert value is not None
    return value


def _from_core(m: sa.RowMapping) -> ConnectionRow:
    """Build a ConnectionRow from a typed SQLAlchemy result row."""
    return ConnectionRow(
        id=m["id"], tenant_id=m["tenant_id"], type=m["type"], name=m["name"], data=m["data"],
        status=_STATUS[m["status"]], expires_at=m["expires_at"], version=m["version"],
        lease_owner=m["lease_owner"], lease_until=m["lease_until"], refresh_failures=m["refresh_failures"],
        last_error=m["last_error"], next_attempt_at=m["next_attempt_at"],
        last_refreshed_at=m["last_refreshed_at"], created_at=m["created_at"], updated_at=m["updated_at"],
        refresh_expires_at=m["refresh_expires_at"],
    )  # fmt: skip


def _clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check the change keys and normalise their values for the table."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise TypeError(f"cannot change column(s) {sorted(unknown)}: allowed are {sorted(CHANGEABLE)}")
    out = dict(changes)
    if "status" in out:
        out["status"] = Status(out["status"]).value
    return out


class ConnectionStore:
    """The SQL store of connections (SQLite or PostgreSQL); every data write bumps ``version``.

    Leases (``acquire_lease``/``release_lease``) coordinate refreshers and do not bump ``version``;
    ``complete_lease`` writes data and does.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        """Create the engine and migrate to head (or only check the revision when ``migrate`` is False)."""
        self.engine = create_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate:
            ensure_schema(self.engine)
        else:
            check_schema(self.engine)
        self._raw = RawAccess(self.engine)

    def __repr__(self) -> str:
        return f"ConnectionStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE so writers queue on the busy timeout)."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def _update(self, where: sa.ColumnElement[bool], values: dict[str, Any]) -> ConnectionRow | None:
        with self._write() as conn:
            row = conn.execute(T.update().where(where).values(**values).returning(*T.c)).mappings().first()
        return None if row is None else _from_core(row)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, tenant_id: uuid.UUID, name: str) -> ConnectionRow | None:
        """Return the connection ``name`` of a tenant, or None (the hot path: raw prepared SQL)."""
        raw = self._raw
        return raw.fetch_one(raw.sql_get, (raw.uuid_param(tenant_id), name))

    def get_by_id(self, connection_id: uuid.UUID) -> ConnectionRow | None:
        """Return the connection with that id, or None."""
        raw = self._raw
        return raw.fetch_one(raw.sql_get_id, (raw.uuid_param(connection_id),))

    def list(
        self,
        tenant_id: uuid.UUID | None = None,
        type: str | None = None,
        status: Status | str | None = None,
    ) -> builtins.list[ConnectionRow]:
        """Return the matching connections ordered by tenant and name."""
        query = sa.select(T).order_by(T.c.tenant_id, T.c.name)
        if tenant_id is not None:
            query = query.where(T.c.tenant_id == tenant_id)
        if type is not None:
            query = query.where(T.c.type == type)
        if status is not None:
            query = query.where(T.c.status == Status(status).value)
        with self.engine.connect() as conn:
            return [_from_core(m) for m in conn.execute(query).mappings()]

    def count_by_status(self) -> dict[Status, int]:
        """Return the number of connections in each status (every status present, zero included)."""
        counts = {s: 0 for s in Status}
        with self.engine.connect() as conn:
            for status, n in conn.execute(sa.select(T.c.status, sa.func.count()).group_by(T.c.status)):
                counts[_STATUS[status]] = int(n)
        return counts

    def iter_rows_after(self, last_id: uuid.UUID | None, limit: int) -> builtins.list[ConnectionRow]:
        """Return up to ``limit`` rows with id greater than ``last_id`` in id order (keyset pagination)."""
        raw = self._raw
        if last_id is None:
            return raw.fetch_all(raw.sql_first, (limit,))
        return raw.fetch_all(raw.sql_after, (raw.uuid_param(last_id), limit))

    def iter_all(self, batch_size: int = 500) -> Iterator[ConnectionRow]:
        """Yield every row in id order, reading ``batch_size`` rows at a time."""
        last: uuid.UUID | None = None
        while True:
            batch = self.iter_rows_after(last, batch_size)
            yield from batch
            if len(batch) < batch_size:
                return
            last = batch[-1].id

    # -- writes ---------------------------------------------------------------------------------

    def insert(self, row: ConnectionRow) -> ConnectionRow:
        """Insert a new connection at version 1; ConnectionExists if the tenant already has the name."""
        now = _now()
        stored = attrs.evolve(
            row, status=Status(row.status), version=1, created_at=row.created_at or now, updated_at=now
        )
        try:
            self._raw.insert(stored)  # prepared SQL on the per-thread connection: the create path is hot too
        except Exception as exc:
            if not _is_integrity_error(exc):
                raise
            if self.get(row.tenant_id, row.name) is not None:
                raise ConnectionExists(row.tenant_id, row.name) from None
            raise
        return stored

    def update_cas(self, connection_id: uuid.UUID, expected_version: int, **changes: Any) -> ConnectionRow | None:
        """Apply ``changes`` if the row is still at ``expected_version``; the new row, or None on mismatch."""
        values = _clean_changes(changes)
        values.update(version=T.c.version + 1, updated_at=_now())
        where = sa.and_(T.c.id == connection_id, T.c.version == expected_version)
        try:
            return self._update(where, values)
        except IntegrityError:
            current = self.get_by_id(connection_id)
            if current is not None and "name" in values:
                raise ConnectionExists(current.tenant_id, values["name"]) from None
            raise

    def delete(self, tenant_id: uuid.UUID, name: str) -> bool:
        """Delete a tenant's connection; True if a row was deleted."""
        with self._write() as conn:
            result = conn.execute(T.delete().where(T.c.tenant_id == tenant_id, T.c.name == name))
        return bool(result.rowcount)

    def delete_by_id(self, connection_id: uuid.UUID, expected_version: int | None = None) -> bool:
        """Delete a connection by id (optionally only at ``expected_version``); True if deleted."""
        where = [T.c.id == connection_id]
        if expected_version is not None:
            where.append(T.c.version == expected_version)
        with self._write() as conn:
            result = conn.execute(T.delete().where(*where))
        return bool(result.rowcount)

    def write_data_batch(self, updates: Sequence[tuple[uuid.UUID, int, dict[str, Any]]]) -> builtins.list[uuid.UUID]:
        """Set ``data`` on many rows by compare-and-set in one transaction; return the ids that conflicted."""
        raw = self._raw
        now = raw.dt_param(_now())
        params = [(raw.json_param(d), now, raw.uuid_param(i), v) for i, v, d in updates]
        conn = raw.connection()
        conflicts: builtins.list[uuid.UUID] = []
        if raw.sqlite:
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for (cid, _, _), p in zip(updates, params, strict=True):
                    cur.execute(raw.sql_set_data, p)
                    if cur.rowcount != 1:
                        conflicts.append(cid)
                cur.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                cur.close()
            return conflicts
        try:
            with conn.transaction(), conn.cursor() as cur:
                for (cid, _, _), p in zip(updates, params, strict=True):
                    cur.execute(raw.sql_set_data, p)
                    if cur.rowcount != 1:
                        conflicts.append(cid)
        except Exception:
            raw.reset()
            raise
        return conflicts

    # -- leases ---------------------------------------------------------------------------------

    def acquire_lease(
        self, connection_id: uuid.UUID, owner: str, ttl_seconds: float, *, now: dt.datetime | None = None
    ) -> ConnectionRow | None:
        """Take (or extend) the refresh lease if free, expired or already ours; the row, or None if held."""
        t = _now(now)
        raw = self._raw
        values = {"lease_owner": owner, "lease_until": t + dt.timedelta(seconds=ttl_seconds)}
        return raw.update(
            values,
            bump_version=False,
            where="id = {p} AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < {p} OR lease_owner = {p})",
            where_params=[raw.uuid_param(connection_id), raw.dt_param(t), owner],
        )

    def complete_lease(self, connection_id: uuid.UUID, owner: str, **changes: Any) -> ConnectionRow | None:
        """Write ``changes`` and drop the lease if ``owner`` still holds it; None means the lease was lost."""
        values = _clean_changes(changes)
        values.update(updated_at=_now(), lease_owner=None, lease_until=None)
        raw = self._raw
        return raw.update(
            values, bump_version=True, where="id = {p} AND lease_owner = {p}",
            where_params=[raw.uuid_param(connection_id), owner],
        )

    def release_lease(self, connection_id: uuid.UUID, owner: str) -> bool:
        """Drop the lease without writing data, only if ``owner`` still holds it."""
        with self._write() as conn:
            result = conn.execute(
                T.update()
                .where(T.c.id == connection_id, T.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )
        return bool(result.rowcount)

    def claim_due(
        self,
        *,
        horizon_until: dt.datetime,
        owner: str,
        lease_seconds: float,
        limit: int,
        now: dt.datetime | None = None,
    ) -> builtins.list[ConnectionRow]:
        """Lease up to ``limit`` unleased ACTIVE/ERROR rows expiring by ``horizon_until``, soonest first."""
        t = _now(now)
        due = sa.and_(
            T.c.status.in_([Status.ACTIVE.value, Status.ERROR.value]),
            T.c.expires_at.is_not(None),
            T.c.expires_at <= _now(horizon_until),
            sa.or_(T.c.lease_owner.is_(None), T.c.lease_until.is_(None), T.c.lease_until < t),
            sa.or_(T.c.next_attempt_at.is_(None), T.c.next_attempt_at <= t),
        )
        pick = sa.select(T.c.id).where(due).order_by(T.c.expires_at).limit(limit)
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        values = {"lease_owner": owner, "lease_until": t + dt.timedelta(seconds=lease_seconds)}
        with self._write() as conn:
            ids = builtins.list(conn.execute(pick).scalars())
            if not ids:
                return []
            rows = (
                conn.execute(T.update().where(T.c.id.in_(ids), due).values(**values).returning(*T.c)).mappings().all()
            )
        claimed = [_from_core(m) for m in rows]
        claimed.sort(key=lambda r: (r.expires_at or t, r.id))
        return claimed

    def dispose(self) -> None:
        """Close every connection (pooled and per-thread)."""
        self._raw.close_all()
        self.engine.dispose()


def _is_integrity_error(exc: BaseException) -> bool:
    """Whether a driver exception is a constraint violation (sqlite3 or psycopg)."""
    import sqlite3

    if isinstance(exc, sqlite3.IntegrityError | IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is optional
        return False
    return isinstance(exc, psycopg.IntegrityError)
