"""Add refresh_at: expires_at less a fraction of the token's own lifetime (when a short-lived token is due).

Plaintext like expires_at, so the worker's claim never decrypts rows to find work. NULL (rows written
before this revision, tokens of unknown lifetime) means "due by the horizon alone", as before.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable refresh_at column."""
    op.add_column("connection", sa.Column("refresh_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop refresh_at."""
    with op.batch_alter_table("connection") as batch:
        batch.drop_column("refresh_at")
