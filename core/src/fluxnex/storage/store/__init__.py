"""The encrypted connection store: the table, Alembic migrations and ``ConnectionStore``.

``ConnectionRow`` and ``Status`` import without SQLAlchemy; the other names load it on first use (PEP 562), so
read-only commands on the embedded SQLite database (``SQLiteReader``) start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fluxnex.storage.store._rows import ConnectionRow, Status

if TYPE_CHECKING:
    from fluxnex.storage.config import DEFAULT_POOL_SIZE, DEFAULT_POOL_TIMEOUT
    from fluxnex.storage.store._engine import create_engine, current_revision, head_revision, upgrade
    from fluxnex.storage.store._models import connection_table, metadata
    from fluxnex.storage.store._repository import CHANGEABLE, ConnectionStore
    from fluxnex.storage.store._sqlite_reader import SQLiteReader

_LAZY = {
    "DEFAULT_POOL_SIZE": "fluxnex.storage.config",
    "DEFAULT_POOL_TIMEOUT": "fluxnex.storage.config",
    "create_engine": "fluxnex.storage.store._engine",
    "current_revision": "fluxnex.storage.store._engine",
    "head_revision": "fluxnex.storage.store._engine",
    "upgrade": "fluxnex.storage.store._engine",
    "connection_table": "fluxnex.storage.store._models",
    "metadata": "fluxnex.storage.store._models",
    "CHANGEABLE": "fluxnex.storage.store._repository",
    "ConnectionStore": "fluxnex.storage.store._repository",
    "SQLiteReader": "fluxnex.storage.store._sqlite_reader",
}

__all__ = [
    "CHANGEABLE",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_POOL_TIMEOUT",
    "ConnectionRow",
    "ConnectionStore",
    "SQLiteReader",
    "Status",
    "connection_table",
    "create_engine",
    "current_revision",
    "head_revision",
    "metadata",
    "upgrade",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fluxnex.storage.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
