"""The encrypted connection store: the table, Alembic migrations and ``ConnectionStore``."""

from __future__ import annotations

from fluxnex.store._engine import (
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_TIMEOUT,
    create_engine,
    current_revision,
    head_revision,
    upgrade,
)
from fluxnex.store._models import ConnectionRow, Status, connection_table, metadata
from fluxnex.store._repository import CHANGEABLE, ConnectionStore

__all__ = [
    "CHANGEABLE",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_POOL_TIMEOUT",
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
