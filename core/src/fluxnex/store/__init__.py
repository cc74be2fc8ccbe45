"""The encrypted connection store: the table, Alembic migrations and ``ConnectionStore``."""

from __future__ import annotations

from fluxnex.store._engine import create_engine, current_revision, head_revision, upgrade
from fluxnex.store._models import ConnectionRow, Status, connection_table, metadata
from fluxnex.store._repository import CHANGEABLE, ConnectionStore

__all__ = [
    "CHANGEABLE",
    "ConnectionRow",
    "ConnectionStore",
    "Status",
    "connection_table",
    "create_engine",
    "current_revision",
    "head_revision",
    "metadata",
    "upgrade",
]
