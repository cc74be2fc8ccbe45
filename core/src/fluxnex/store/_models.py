"""The ``connection`` table (the row value object and the status enum live in ``_rows``, free of SQLAlchemy)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from fluxnex.store._rows import ConnectionRow, Status, utc

__all__ = ["COLUMNS", "ConnectionRow", "Status", "UTCDateTime", "connection_table", "metadata", "utc"]


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
    sa.UniqueConstraint("tenant_id", "name", name="uq_connection_tenant_name"),
    sa.Index("ix_connection_status_expires", "status", "expires_at"),
    sa.Index("ix_connection_tenant", "tenant_id"),
)

COLUMNS: tuple[str, ...] = tuple(c.name for c in connection_table.columns)
