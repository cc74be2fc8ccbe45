"""Add refresh_expires_at: when the refresh token itself expires (QuickBooks' rolling ~100 days).

Plaintext like expires_at, so listing connections that need a person soon never decrypts rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable refresh_expires_at column."""
    op.add_column("connection", sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop refresh_expires_at."""
    with op.batch_alter_table("connection") as batch:
        batch.drop_column("refresh_expires_at")
