"""Add key_fingerprint: which key each key id stands for, so a changed or foreign key is refused.

One row per kid: a keyed hash of the key (HMAC-SHA256 keyed by the key), never the key itself.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create key_fingerprint."""
    op.create_table(
        "key_fingerprint",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop key_fingerprint."""
    op.drop_table("key_fingerprint")
