"""``ConnectionInfo`` (what can be shown about a connection without its secrets) and argument checks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

import attrs

from fluxnex.contract.errors import FluxnexError
from fluxnex.storage.store import ConnectionRow, Status

__all__ = ["RECONNECT_WARNING_DAYS", "ConnectionInfo", "parse_tenant"]

UTC = dt.UTC

#: A connection whose refresh token expires within this many days is flagged for reconnection.
RECONNECT_WARNING_DAYS: Final = 14


@attrs.frozen
class ConnectionInfo:
    """What can be shown about a connection without its secrets."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    name: str
    status: Status
    expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    last_refreshed_at: dt.datetime | None = None
    refresh_failures: int = 0
    last_error: str | None = None
    refresh_expires_at: dt.datetime | None = None

    @property
    def reconnect_soon(self) -> bool:
        """Whether the refresh token itself expires within ``RECONNECT_WARNING_DAYS``: a person must act soon."""
        if self.refresh_expires_at is None:
            return False
        return self.refresh_expires_at - dt.datetime.now(UTC) <= dt.timedelta(days=RECONNECT_WARNING_DAYS)

    @classmethod
    def from_row(cls, row: ConnectionRow) -> ConnectionInfo:
        """Build the info of a stored row (never reads its data)."""
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            type=row.type,
            name=row.name,
            status=Status(row.status),
            expires_at=row.expires_at,
            created_at=_required(row.created_at),
            updated_at=_required(row.updated_at),
            last_refreshed_at=row.last_refreshed_at,
            refresh_failures=row.refresh_failures,
            last_error=row.last_error,
            refresh_expires_at=row.refresh_expires_at,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO timestamps, string UUIDs)."""
        out: dict[str, Any] = {}
        for key, value in attrs.asdict(self, recurse=False).items():
            if isinstance(value, uuid.UUID | dt.datetime):
                value = value.isoformat() if isinstance(value, dt.datetime) else str(value)
            out[key] = value.value if isinstance(value, Status) else value
        out["reconnect_soon"] = self.reconnect_soon
        return out


def parse_tenant(value: uuid.UUID | str) -> uuid.UUID:
    """Accept a UUID or its string form; anything else is a one-line error."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise FluxnexError(f"tenant_id must be a UUID, got {value!r}") from None



def _required(value: dt.datetime | None) -> dt.datetime:
    assert value is not None, "stored rows always carry their timestamps"
    return value
