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

from fluxnex.contract.errors import ConnectionExists
from fluxnex.storage.config import DEFAULT_POOL_SIZE, DEFAULT_POOL_TIMEOUT
from fluxnex.storage.store import _outbox, _scale
from fluxnex.storage.store._engine import check_schema, create_engine, ensure_schema
from fluxnex.storage.store._errors import DriverErrors
from fluxnex.storage.store._models import ConnectionRow, Status, connection_table, default_refresh_at, utc
from fluxnex.storage.store._raw import RawAccess
from fluxnex.storage.store._rewrite import DataRewriter

__all__ = ["CHANGEABLE", "ConnectionStore"]

UTC = dt.UTC
T = connection_table
CHANGEABLE = frozenset(
    {
        "data", "name", "status", "expires_at", "refresh_failures", "last_error", "next_attempt_at",
        "last_refreshed_at", "lease_owner", "lease_until", "refresh_expires_at", "refresh_at",
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
        refresh_expires_at=m["refresh_expires_at"], refresh_at=m["refresh_at"],
    )  # fmt: skip


def _clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check the change keys and normalise their values for the table."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise TypeError(f"cannot change column(s) {sorted(unknown)}: allowed are {sorted(CHANGEABLE)}")
    out = dict(changes)
    if "expires_at" in out and "refresh_at" not in out:  # a new expiry of unknown lifetime
        out["refresh_at"] = default_refresh_at(out["expires_at"])
    if "status" in out:
        out["status"] = Status(out["status"]).value
    return out


class ConnectionStore:
    """The SQL store of connections (SQLite or PostgreSQL); every data write bumps ``version``.

    Leases (``acquire_lease``/``release_lease``) coordinate refreshers and do not bump ``version``;
    ``complete_lease`` writes data and does.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> None:
        """Create the engine and migrate to head (or only check the revision when ``migrate`` is False).

        Every statement of this store, the migration at start-up included, runs on one bounded pool of
        ``pool_size`` connections (``max_connections``); a caller waits up to ``pool_timeout`` seconds for one.
        """
        self.engine = create_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
        self.dialect = self.engine.dialect.name
        self._errors = DriverErrors(self.engine)
        self._raw = RawAccess(self.engine, self._errors)
        #: Leases this store's claims took over from silent owners (``fluxnex_lease_takeovers_total``).
        self.lease_takeovers = 0
        try:
            with self._errors.translated():
                if migrate:
                    ensure_schema(self.engine)
                else:
                    check_schema(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def max_connections(self) -> int:
        """The most database connections this store (and so its process's manager) ever holds open at once."""
        pool: Any = self.engine.pool
        return int(pool.size())

    @property
    def database(self) -> str:
        """The database as messages name it (host, port and name; the file for SQLite), without secrets."""
        return self._errors.where

    def __repr__(self) -> str:
        return f"ConnectionStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """A pooled SQLAlchemy connection; driver errors as ``DatabaseError``."""
        self._raw.pool  # noqa: B018 - after a fork, replaces the parent's pool before SQLAlchemy uses it
        with self._errors.translated(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE so writers queue on the busy timeout)."""
        with self._read() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def _update(
        self, where: sa.ColumnElement[bool], values: dict[str, Any], event: str | None = None
    ) -> ConnectionRow | None:
        with self._write() as conn:
            row = conn.execute(T.update().where(where).values(**values).returning(*T.c)).mappings().first()
            updated = None if row is None else _from_core(row)
            if updated is not None and event is not None:  # committed with the change, or not at all
                _outbox.add_event(conn, event, updated)
        return updated

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
        with self._read() as conn:
            return [_from_core(m) for m in conn.execute(query).mappings()]

    def count_by_status(self) -> dict[Status, int]:
        """Return the number of connections in each status (every status present, zero included).

        Reads the trigger-kept ``connection_count`` table: a handful of rows, not a count of the table.
        """
        with self._read() as conn:
            return _scale.count_by_status(conn)

    def count(self) -> int:
        """Return the number of connections, every status included (from the counts table, like count_by_status)."""
        with self._read() as conn:
            return _scale.count_all(conn)

    def refresh_failures_of(self, connection_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The ``refresh_failures`` counter of each existing connection among ``connection_ids``."""
        if not connection_ids:
            return {}
        query = sa.select(T.c.id, T.c.refresh_failures).where(T.c.id.in_(builtins.list(connection_ids)))
        with self._read() as conn:
            return {cid: int(n) for cid, n in conn.execute(query)}

    def iter_rows_after(self, last_id: uuid.UUID | None, limit: int) -> builtins.list[ConnectionRow]:
        """Return up to ``limit`` rows with id greater than ``last_id`` in id order (keyset pagination)."""
        raw = self._raw
        if last_id is None:
            return raw.fetch_all(raw.sql_first, (limit,))
        return raw.fetch_all(raw.sql_after, (raw.uuid_param(last_id), limit))

    def data_after(self, position: int | uuid.UUID | None, limit: int) -> builtins.list[_scale.DataRow]:
        """Up to ``limit`` rows (identity, version, data) after ``position`` (key rotation's pass over the table).

        ``position`` is the last row's ``DataRow.position`` (None: from the start); rows come in the order
        that rewrites them cheapest (``fluxnex.storage.store._scale.DataRow``).
        """
        with self._read() as conn:
            return _scale.read_data_after(conn, self.dialect, position, limit)

    def rewriter(self, limit: int) -> DataRewriter:
        """A pass that writes one batch of ``data`` and reads the next (``limit`` rows) while the caller works."""
        return DataRewriter(self.dialect, limit, self._driver, self.write_data_batch, self.data_after)

    @contextmanager
    def _driver(self) -> Iterator[Any]:
        """A pooled DBAPI connection in autocommit, no SQLAlchemy checkout (no ping, no reset); errors translated."""
        with self._errors.translated(), self._raw.borrow() as conn:
            yield conn

    def rewrite_batch_limit(self) -> int | None:
        """Most rows a rewrite (rotation) batch should hold so updates stay in their pages; None: no limit."""
        with self.engine.connect() as conn:
            return _scale.rewrite_batch_limit(conn, self.dialect)

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
            row, status=Status(row.status), version=1, created_at=row.created_at or now, updated_at=now,
            refresh_at=row.refresh_at if row.refresh_at is not None else default_refresh_at(row.expires_at),
        )  # fmt: skip
        try:
            self._raw.insert(stored)  # prepared SQL on a pooled connection: the create path is hot too
        except Exception as exc:
            if not _is_integrity_error(exc):
                raise
            if self.get(row.tenant_id, row.name) is not None:
                raise ConnectionExists(row.tenant_id, row.name) from None
            raise
        return stored

    def update_cas(
        self, connection_id: uuid.UUID, expected_version: int, *, event: str | None = None, **changes: Any
    ) -> ConnectionRow | None:
        """Apply ``changes`` if still at ``expected_version`` (new row, or None); ``event`` joins the outbox with it."""
        values = _clean_changes(changes)
        values.update(version=T.c.version + 1, updated_at=_now())
        where = sa.and_(T.c.id == connection_id, T.c.version == expected_version)
        try:
            return self._update(where, values, event)
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

    def write_data_batch(self, updates: _scale.DataUpdates) -> builtins.list[uuid.UUID]:
        """Set ``data`` on many rows by compare-and-set in one transaction; return the ids that conflicted.

        PostgreSQL: one ``UPDATE ... FROM jsonb_to_recordset(...)`` statement for the whole batch.
        """
        with self._write() as conn:
            return _scale.write_data_batch(conn, self.dialect, updates, _now())

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

    def complete_lease(
        self, connection_id: uuid.UUID, owner: str, expected_version: int, **changes: Any
    ) -> ConnectionRow | None:
        """Write ``changes`` and drop the lease if ``owner`` holds it and the row is still at ``expected_version``.

        None means the lease was lost or somebody wrote meanwhile: nothing was written.
        """
        values = _clean_changes(changes)
        values.update(updated_at=_now(), lease_owner=None, lease_until=None)
        raw = self._raw
        return raw.update(
            values, bump_version=True, where="id = {p} AND lease_owner = {p} AND version = {p}",
            where_params=[raw.uuid_param(connection_id), owner, expected_version],
        )

    def write_refresh(self, connection_id: uuid.UUID, expected_version: int, **changes: Any) -> ConnectionRow | None:
        """Write a refresh result if the row is still at ``expected_version`` (whoever holds the lease); drop the lease.

        The version, not the lease, decides: the row still holds the token generation the result replaced, so
        the result is the newest token there is. None when the row moved on (see ``fluxnex.lifecycle.refresh_write``).
        """
        values = _clean_changes(changes)
        values.update(updated_at=_now(), lease_owner=None, lease_until=None)
        raw = self._raw
        return raw.update(
            values, bump_version=True, where="id = {p} AND version = {p}",
            where_params=[raw.uuid_param(connection_id), expected_version],
        )

    def renew_leases(self, connection_ids: Sequence[uuid.UUID], owner: str, ttl_seconds: float) -> set[uuid.UUID]:
        """Extend the leases ``owner`` still holds on ``connection_ids`` to now + ``ttl_seconds``; the ids renewed."""
        if not connection_ids:
            return set()
        until = _now() + dt.timedelta(seconds=ttl_seconds)
        query = (
            T.update()
            .where(T.c.id.in_(builtins.list(connection_ids)), T.c.lease_owner == owner)
            .values(lease_until=until)
            .returning(T.c.id)
        )
        with self._write() as conn:
            return set(conn.execute(query).scalars())

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
        """Lease up to ``limit`` unleased ACTIVE/ERROR rows expiring by ``horizon_until``, soonest first.

        Only rows whose ``refresh_at`` has passed are due: a token is refreshed once less than the horizon
        *and* less than a fraction of its own lifetime is left (``fluxnex.lifecycle.tokens``).
        """
        t = _now(now)
        pick = _scale.claim_pick(self.dialect, _now(horizon_until), t, limit)
        values = {"lease_owner": owner, "lease_until": t + dt.timedelta(seconds=lease_seconds)}
        with self._write() as conn:
            # SQLite: BEGIN IMMEDIATE holds the write lock, PostgreSQL: the picked rows are locked, so the
            # picked rows are still due here and the update goes by primary key alone.
            picked = conn.execute(pick).all()
            if not picked:
                return []
            ids = [p.id for p in picked]
            self.lease_takeovers += sum(1 for p in picked if p.lease_owner is not None)  # lapsed: a silent owner
            rows = conn.execute(T.update().where(T.c.id.in_(ids)).values(**values).returning(*T.c)).mappings().all()
        claimed = [_from_core(m) for m in rows]
        claimed.sort(key=lambda r: (r.expires_at or t, r.id))
        return claimed

    def dispose(self) -> None:
        """Close every pooled connection (connections still borrowed close when given back)."""
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
