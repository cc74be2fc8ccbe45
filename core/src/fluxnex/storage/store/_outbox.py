"""The outbox: ``connection_event`` rows, written with the change they describe (migration 0007), and their reads.

Triggers write the transitions; ``add_event`` writes the application's own events (``connection.updated``,
``connection.reconnected``, ``connection.reconnect_soon``) inside the caller's transaction. The dispatcher
(``fluxnex.events``) claims undispatched events with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), hands
them to the in-process hook, fans them out into ``webhook_delivery`` rows and marks them dispatched.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import sqlalchemy as sa

from fluxnex.storage.store._models import COLUMNS, ConnectionRow, Status, UTCDateTime, connection_table, metadata, utc

__all__ = [
    "APP_EVENTS",
    "EVENT_TYPES",
    "Event",
    "OutboxStore",
    "add_event",
    "delivery_table",
    "endpoint_table",
    "event_table",
    "warning_table",
]

#: Every event type, in the order the docs list them.
EVENT_TYPES: tuple[str, ...] = (
    "connection.created", "connection.updated", "connection.deleted", "connection.reconnected",
    "connection.refresh_failed", "connection.expired", "connection.recovered", "connection.reconnect_soon",
    "connection.refreshed",
)  # fmt: skip
#: The events the application writes itself (the others come from the triggers of migration 0007).
APP_EVENTS = frozenset({"connection.updated", "connection.reconnected", "connection.reconnect_soon"})

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

event_table = sa.Table(
    "connection_event", metadata,
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Uuid(), nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("connection_id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("connection_type", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("dispatch_owner", sa.String(200), nullable=True),
    sa.Column("dispatch_until", UTCDateTime(), nullable=True),
    sa.Column("dispatched_at", UTCDateTime(), nullable=True),
)  # fmt: skip

endpoint_table = sa.Table(
    "webhook_endpoint", metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=True),
    sa.Column("events", sa.Text(), nullable=True),
    sa.Column("wants_refreshed", sa.Boolean(), nullable=False),
    sa.Column("secret", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)  # fmt: skip

delivery_table = sa.Table(
    "webhook_delivery", metadata,
    sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
    sa.Column("event_seq", _SEQ, nullable=False),
    sa.Column("endpoint_id", sa.Uuid(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("last_status", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
)  # fmt: skip

warning_table = sa.Table(
    "reconnect_warning", metadata,
    sa.Column("connection_id", sa.Uuid(), primary_key=True),
    sa.Column("refresh_expires_at", UTCDateTime(), nullable=False),
    sa.Column("warned_at", UTCDateTime(), nullable=False),
)  # fmt: skip

E, C, D, W = event_table, connection_table, delivery_table, warning_table


@attrs.frozen
class Event:
    """One outbox event: what happened to which connection (never a secret: plaintext columns only)."""

    seq: int
    id: uuid.UUID
    type: str
    connection_id: uuid.UUID
    tenant_id: uuid.UUID
    connection_type: str
    name: str
    status: str
    error: str | None
    attempts: int
    occurred_at: dt.datetime
    dispatched_at: dt.datetime | None = None

    @property
    def webhook_id(self) -> str:
        """The ``webhook-id`` of every delivery of this event (stable across retries and replays)."""
        return f"msg_{self.id.hex}"

    def data(self) -> dict[str, Any]:
        """The event's ``data``: the connection it names, its status and error (and the attempt count)."""
        out: dict[str, Any] = {
            "id": str(self.connection_id), "tenant_id": str(self.tenant_id), "type": self.connection_type,
            "name": self.name, "status": self.status, "error": self.error,
        }  # fmt: skip
        if self.type == "connection.refresh_failed":
            out["attempts"] = self.attempts
        return out

    def payload(self) -> dict[str, Any]:
        """The Standard Webhooks body: ``{"type", "timestamp", "data"}``."""
        stamp = self.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return {"type": self.type, "timestamp": stamp, "data": self.data()}

    def body(self) -> bytes:
        """The payload as the bytes that are signed and sent."""
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True).encode()


def _event(m: sa.RowMapping) -> Event:
    return Event(
        seq=int(m["seq"]), id=m["id"], type=m["type"], connection_id=m["connection_id"], tenant_id=m["tenant_id"],
        connection_type=m["connection_type"], name=m["name"], status=m["status"], error=m["error"],
        attempts=int(m["attempts"]), occurred_at=m["occurred_at"], dispatched_at=m["dispatched_at"],
    )  # fmt: skip


def connection_row(m: sa.RowMapping) -> ConnectionRow:
    """A ``ConnectionRow`` from a SQLAlchemy row of the connection table."""
    values = {column: m[column] for column in COLUMNS}
    values["status"] = Status(values["status"])
    return ConnectionRow(**values)


def add_event(conn: sa.Connection, type: str, row: ConnectionRow, *, now: dt.datetime | None = None) -> None:
    """Write one event about ``row`` in the caller's transaction (the caller's change and the event commit together)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    conn.execute(
        E.insert().values(
            id=uuid.uuid4(), type=type, connection_id=row.id, tenant_id=row.tenant_id, connection_type=row.type,
            name=row.name, status=str(getattr(row.status, "value", row.status)), error=row.last_error,
            attempts=row.refresh_failures, occurred_at=now or dt.datetime.now(dt.UTC),
        )
    )  # fmt: skip


class OutboxStore:
    """Reads and writes of the outbox tables on a ``ConnectionStore``'s engine (its pool, its transactions)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, so claims are exclusive)."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def _any(self, query: sa.Select[Any]) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    # -- events ----------------------------------------------------------------------------------------

    def claim_events(self, owner: str, lease_seconds: float, limit: int, now: dt.datetime) -> list[Event]:
        """Lease up to ``limit`` undispatched events (oldest first) whose dispatch lease is free or lapsed."""
        free = sa.or_(E.c.dispatch_until.is_(None), E.c.dispatch_until < now)
        pick = (
            sa.select(E.c.seq).where(E.c.dispatched_at.is_(None), free).order_by(E.c.seq).limit(limit)
            .with_for_update(skip_locked=True)
        )  # fmt: skip
        if not self._any(sa.select(E.c.seq).where(E.c.dispatched_at.is_(None), free).limit(1)):
            return []  # the usual answer, read without taking SQLite's write lock
        with self.write() as conn:
            seqs = list(conn.execute(pick).scalars())
            if not seqs:
                return []
            until = now + dt.timedelta(seconds=lease_seconds)
            rows = conn.execute(
                E.update().where(E.c.seq.in_(seqs)).values(dispatch_owner=owner, dispatch_until=until).returning(*E.c)
            ).mappings().all()  # fmt: skip
        return sorted((_event(m) for m in rows), key=lambda e: e.seq)

    def dispatch(self, events: Sequence[Event], targets: dict[int, list[uuid.UUID]], owner: str,
                 now: dt.datetime) -> int:  # fmt: skip
        """Queue a delivery per (event, endpoint) in ``targets`` and mark the events dispatched, in one transaction.

        Only events this ``owner`` still leases are marked; a delivery that exists already is kept (a replay or
        a dispatcher that was taken over does not queue it twice). Returns the deliveries queued.
        """
        seqs = [e.seq for e in events]
        if not seqs:
            return 0
        with self.write() as conn:  # a few statements for the whole batch: SQLite's write lock is held briefly
            mine = set(conn.execute(
                E.update().where(E.c.seq.in_(seqs), E.c.dispatch_owner == owner, E.c.dispatched_at.is_(None))
                .values(dispatched_at=now, dispatch_owner=None, dispatch_until=None).returning(E.c.seq)
            ).scalars())  # fmt: skip
            wanted = {(seq, endpoint) for seq in mine for endpoint in targets.get(seq, [])}
            if not wanted:
                return 0
            existing = {(int(seq), endpoint) for seq, endpoint in conn.execute(
                sa.select(D.c.event_seq, D.c.endpoint_id).where(D.c.event_seq.in_(sorted(mine)))
            )}  # fmt: skip
            fresh = sorted(wanted - existing)
            if fresh:
                conn.execute(D.insert(), [
                    {"event_seq": seq, "endpoint_id": endpoint, "status": "PENDING", "attempts": 0,
                     "next_attempt_at": now, "created_at": now} for seq, endpoint in fresh
                ])  # fmt: skip
        return len(fresh)

    def _queue(self, conn: sa.Connection, seq: int, endpoints: Sequence[uuid.UUID], now: dt.datetime,
               *, reset: bool) -> int:  # fmt: skip
        existing = set(conn.execute(sa.select(D.c.endpoint_id).where(D.c.event_seq == seq)).scalars())
        fresh = [e for e in endpoints if e not in existing]
        if reset and existing & set(endpoints):
            conn.execute(
                D.update().where(D.c.event_seq == seq, D.c.endpoint_id.in_(list(existing & set(endpoints))))
                .values(status="PENDING", attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None,
                        last_error=None, delivered_at=None)
            )  # fmt: skip
        if fresh:
            conn.execute(D.insert(), [
                {"event_seq": seq, "endpoint_id": e, "status": "PENDING", "attempts": 0, "next_attempt_at": now,
                 "created_at": now} for e in fresh
            ])  # fmt: skip
        return len(fresh) + (len(existing & set(endpoints)) if reset else 0)

    def requeue(self, event_id: uuid.UUID, endpoints: Sequence[uuid.UUID], now: dt.datetime) -> int:
        """Queue the event again for ``endpoints`` (``fluxnex events replay``): pending, attempts from zero."""
        with self.write() as conn:
            seq = conn.execute(sa.select(E.c.seq).where(E.c.id == event_id)).scalar()
            if seq is None:
                return -1
            return self._queue(conn, int(seq), endpoints, now, reset=True)

    def get(self, event_id: uuid.UUID) -> Event | None:
        """The event with that id, or None."""
        with self.engine.connect() as conn:
            m = conn.execute(sa.select(E).where(E.c.id == event_id)).mappings().first()
        return None if m is None else _event(m)

    def list(self, *, failed: bool = False, limit: int = 100, types: Sequence[str] | None = None) -> list[
            tuple[Event, dict[str, int]]]:  # fmt: skip
        """The newest events (with ``failed``: those with a failed delivery) and their delivery counts by status."""
        query = sa.select(E).order_by(E.c.seq.desc()).limit(limit)
        if failed:
            query = query.where(E.c.seq.in_(sa.select(D.c.event_seq).where(D.c.status == "FAILED")))
        if types:
            query = query.where(E.c.type.in_(list(types)))
        with self.engine.connect() as conn:
            events = [_event(m) for m in conn.execute(query).mappings()]
            counts: dict[int, dict[str, int]] = {e.seq: {} for e in events}
            if events:
                rows = conn.execute(
                    sa.select(D.c.event_seq, D.c.status, sa.func.count()).where(D.c.event_seq.in_(list(counts)))
                    .group_by(D.c.event_seq, D.c.status)
                )  # fmt: skip
                for seq, status, n in rows:
                    counts[int(seq)][str(status)] = int(n)
        return [(e, counts[e.seq]) for e in events]

    def undispatched(self) -> int:
        """Events not handed to the dispatcher yet."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(E.c.dispatched_at.is_(None))).scalar_one())

    def prune(self, before: dt.datetime) -> int:
        """Delete dispatched events older than ``before`` with no pending delivery; how many."""
        pending = sa.select(D.c.event_seq).where(D.c.status == "PENDING")
        with self.write() as conn:
            result = conn.execute(
                E.delete().where(E.c.dispatched_at.is_not(None), E.c.occurred_at < before, E.c.seq.not_in(pending))
            )  # fmt: skip
        return int(result.rowcount)

    # -- reconnect warnings -------------------------------------------------------------------------------

    def warn_reconnect_soon(self, until: dt.datetime, limit: int, now: dt.datetime) -> int:
        """Write ``connection.reconnect_soon`` for connections whose refresh token lapses by ``until``, once each.

        Once per connection per refresh-token lifetime: the warning row remembers the ``refresh_expires_at`` it
        warned about, so a reconnect (a new refresh token, a new expiry) opens a new window.
        """
        pick = (
            sa.select(C).select_from(C.outerjoin(W, W.c.connection_id == C.c.id))
            .where(C.c.refresh_expires_at.is_not(None), C.c.refresh_expires_at <= until,
                   C.c.status.in_(["ACTIVE", "ERROR"]),
                   sa.or_(W.c.connection_id.is_(None), W.c.refresh_expires_at != C.c.refresh_expires_at))
            .limit(limit).with_for_update(of=C, skip_locked=True)
        )  # fmt: skip
        with self.write() as conn:
            rows = [connection_row(m) for m in conn.execute(pick).mappings()]
            for row in rows:
                assert row.refresh_expires_at is not None
                conn.execute(W.delete().where(W.c.connection_id == row.id))
                conn.execute(W.insert().values(connection_id=row.id, refresh_expires_at=row.refresh_expires_at,
                                               warned_at=now))  # fmt: skip
                add_event(conn, "connection.reconnect_soon", row, now=now)
        return len(rows)


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as aware UTC."""
    out = utc(value)
    assert out is not None
    return out
