"""Create the connection table.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the connection table with its unique constraint and indexes."""
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "connection",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("data", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="ACTIVE"),
        sa.Column("expires_at", ts, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", ts, nullable=True),
        sa.Column("refresh_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", ts, nullable=True),
        sa.Column("last_refreshed_at", ts, nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_connection_tenant_name"),
    )
    op.create_index("ix_connection_status_expires", "connection", ["status", "expires_at"])
    op.create_index("ix_connection_tenant", "connection", ["tenant_id"])


def downgrade() -> None:
    """Drop the connection table."""
    op.drop_index("ix_connection_tenant", table_name="connection")
    op.drop_index("ix_connection_status_expires", table_name="connection")
    op.drop_table("connection")
