"""The row value object and the status enum, importable without SQLAlchemy (fast read-only commands)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import attrs

__all__ = ["COLUMN_NAMES", "REFRESH_CAP", "ConnectionRow", "Status", "utc"]

UTC = dt.UTC

#: Seconds before expiry at which a token of unknown lifetime becomes due (``refresh_at``), and the most
#: ahead of expiry any token does: the refresh worker's default horizon (see ``fluxnex.lifecycle.tokens``).
REFRESH_CAP = 600.0

#: The ``connection`` table's columns in order (``_models`` checks it against the table).
COLUMN_NAMES: tuple[str, ...] = (
    "id", "tenant_id", "type", "name", "data", "status", "expires_at", "version", "lease_owner", "lease_until",
    "refresh_failures", "last_error", "next_attempt_at", "last_refreshed_at", "created_at", "updated_at",
    "refresh_expires_at", "refresh_at",
)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Return the datetime as aware UTC (naive values are taken to be UTC already)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Status(enum.StrEnum):
    """The lifecycle state of a connection.

    ``NOT_CONNECTED``: an OAuth2 connection stored without a token (``connections add``); a person must run
    ``fluxnex connect`` for it. The worker never claims it and ``get_connection`` says how to connect.
    """

    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    EXPIRED = "EXPIRED"
    NOT_CONNECTED = "NOT_CONNECTED"


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
    #: when the token becomes due: expiry less the smaller of 10 minutes and 20% of its lifetime (``lifecycle.tokens``)
    refresh_at: dt.datetime | None = None

    def __repr__(self) -> str:
        return (
            f"ConnectionRow(id={self.id}, tenant_id={self.tenant_id}, type={self.type!r}, "
            f"name={self.name!r}, status={self.status.value}, version={self.version}, "
            f"kid={self.data.get('kid') if isinstance(self.data, dict) else None!r})"
        )
