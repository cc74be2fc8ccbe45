"""The ``connection`` table, the row value object and the status enum."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["ConnectionRow", "Status", "UTCDateTime", "connection_table", "metadata", "utc"]

UTC = dt.UTC


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Return the datetime as aware UTC (naive values are taken to be UTC already)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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


class Status(enum.StrEnum):
    """The lifecycle state of a connection.

    ``NOT_CONNECTED``: an OAuth2 connection stored without a token (``connections add``); a person must run
    ``fluxnex connect`` for it. The worker never claims it and ``get_connection`` says how to connect.
    """

    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    EXPIRED = "EXPIRED"
    NOT_CONNECTED = "NOT_CONNECTED"


metadata = sa.MetaData()

JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")

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


@attrs.frozen(repr=False)
class ConnectionRow:
    """One stored connection; ``data`` is the encryption envelope, never plaintext."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    name: str
    data: dict[str, Any]
    status: Status = Status.ACTIVE
    expires_at: dt.datetime | None = None
    version: int = 1
    lease_owner: str | None = None
    lease_until: dt.datetime | None = None
    refresh_failures: int = 0
    last_error: str | None = None
    next_attempt_at: dt.datetime | None = None
    last_refreshed_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    refresh_expires_at: dt.datetime | None = None

    def __repr__(self) -> str:
        return (
            f"ConnectionRow(id={self.id}, tenant_id={self.tenant_id}, type={self.type!r}, "
            f"name={self.name!r}, status={self.status.value}, version={self.version}, "
            f"kid={self.data.get('kid') if isinstance(self.data, dict) else None!r})"
        )
