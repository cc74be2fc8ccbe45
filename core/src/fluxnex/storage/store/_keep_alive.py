"""The keep-alive claim: idle connections of a type whose refresh token goes stale unless it is used.

A connection is idle when it was last refreshed (or, never refreshed, created) before ``cutoff``; the claim
takes a lease on such rows like the due claim does (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), reading the index ``ix_connection_keep_alive`` (type, last_refreshed_at) of migration 0007.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa

from fluxnex.storage.store._models import ConnectionRow, connection_table
from fluxnex.storage.store._outbox import connection_row

if TYPE_CHECKING:
    from fluxnex.storage.store._repository import ConnectionStore

__all__ = ["claim_idle"]

C = connection_table


def claim_idle(
    store: ConnectionStore, type_name: str, cutoff: dt.datetime, *, owner: str, lease_seconds: float, limit: int,
    now: dt.datetime,
) -> list[ConnectionRow]:  # fmt: skip
    """Lease up to ``limit`` unleased ACTIVE connections of ``type_name`` idle since before ``cutoff``."""
    idle = sa.or_(C.c.last_refreshed_at < cutoff, sa.and_(C.c.last_refreshed_at.is_(None), C.c.created_at < cutoff))
    free = sa.or_(C.c.lease_owner.is_(None), C.c.lease_until.is_(None), C.c.lease_until < now)
    retry_ok = sa.or_(C.c.next_attempt_at.is_(None), C.c.next_attempt_at <= now)
    pick = (
        sa.select(C.c.id).where(C.c.type == type_name, C.c.status == "ACTIVE", idle, free, retry_ok)
        .order_by(C.c.last_refreshed_at).limit(limit).with_for_update(skip_locked=True)
    )  # fmt: skip
    until = now + dt.timedelta(seconds=lease_seconds)
    with store._write() as conn:
        ids = list(conn.execute(pick).scalars())
        if not ids:
            return []
        rows = conn.execute(
            C.update().where(C.c.id.in_(ids)).values(lease_owner=owner, lease_until=until).returning(*C.c)
        ).mappings().all()  # fmt: skip
    return [connection_row(m) for m in rows]
