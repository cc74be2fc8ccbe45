"""The ``connection`` table (the row value object and the status enum live in ``_rows``, free of SQLAlchemy)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from fluxnex.storage.store._rows import REFRESH_CAP, ConnectionRow, Status, utc

__all__ = [
    "CLAIMABLE_SQL",
    "COLUMNS",
    "REFRESH_CAP",
    "ConnectionRow",
    "Status",
    "UTCDateTime",
    "connection_count_table",
    "connection_table",
    "default_refresh_at",
    "metadata",
    "utc",
]



class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp; SQLite stores it naive in UTC, reads come back aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        """Normalise to UTC (naive for SQLite, which would otherwise drop the offset unconverted)."""
        if value is None:
            return None
        aware = utc(value)
        assert aware is not None
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        """Return aware UTC."""
        return utc(value)


metadata = sa.MetaData()

#: The rows the refresh worker may claim: the predicate of the partial index ``ix_connection_due``. A query
#: uses that index only when its WHERE repeats this text with literals (SQLite and PostgreSQL prove the
#: implication syntactically), so the claim inlines it rather than binding the statuses.
CLAIMABLE_SQL = "status IN ('ACTIVE', 'ERROR') AND refresh_at IS NOT NULL"



def default_refresh_at(expires_at: dt.datetime | None) -> dt.datetime | None:
    """``refresh_at`` for an expiry whose token lifetime is unknown: ``REFRESH_CAP`` seconds before it."""
    return None if expires_at is None else expires_at - dt.timedelta(seconds=REFRESH_CAP)


class JSONDocument(sa.types.TypeDecorator[Any]):
    """JSON, stored as JSONB on PostgreSQL; the PostgreSQL dialect is imported only when one is used."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        """JSONB on PostgreSQL, JSON elsewhere."""
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


JSON_DOCUMENT = JSONDocument()

connection_table = sa.Table(
    "connection",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("data", JSON_DOCUMENT, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=Status.ACTIVE.value),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("refresh_failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("last_refreshed_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("refresh_expires_at", UTCDateTime(), nullable=True),
    sa.Column("refresh_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("tenant_id", "name", name="uq_connection_tenant_name"),
    sa.Index("ix_connection_status_expires", "status", "expires_at"),
    sa.Index("ix_connection_tenant", "tenant_id"),
    sa.Index(
        "ix_connection_due",
        "refresh_at",
        "next_attempt_at",
        sqlite_where=sa.text(CLAIMABLE_SQL),
        postgresql_where=sa.text(CLAIMABLE_SQL),
    ),
)

#: Connections per status, kept exact by triggers (migration 0003); the count of a status is the sum of its
#: shards (PostgreSQL spreads concurrent writers over 16 shards, SQLite uses shard 0).
connection_count_table = sa.Table(
    "connection_count",
    metadata,
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("shard", sa.SmallInteger(), nullable=False),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("status", "shard", name="pk_connection_count"),
)

COLUMNS: tuple[str, ...] = tuple(c.name for c in connection_table.columns)
