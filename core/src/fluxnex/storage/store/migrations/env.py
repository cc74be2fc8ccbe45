"""Alembic environment: runs against the connection FluxNex passes in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from fluxnex.storage.store._models import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - FluxNex always passes a connection
    raise RuntimeError("fluxnex migrations run programmatically: use fluxnex.storage.store.upgrade(url)")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
