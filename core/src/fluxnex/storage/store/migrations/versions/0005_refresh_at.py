"""Add refresh_at: when a token becomes due (expires_at less the smaller of 10 minutes and 20% of its lifetime).

Plaintext like expires_at, so the worker's claim never decrypts rows to find work; the claim index
``ix_connection_due`` (0003) moves from ``expires_at`` to ``refresh_at`` so a claim walks it in the order rows
become due and reads only due rows. Rows written before this revision, whose lifetime is unknown, are due 10
minutes before expiry, as they were.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CLAIMABLE_OLD = "status IN ('ACTIVE', 'ERROR') AND expires_at IS NOT NULL"
CLAIMABLE = "status IN ('ACTIVE', 'ERROR') AND refresh_at IS NOT NULL"


def _due_index(column: str, where: str) -> None:
    op.create_index(
        "ix_connection_due",
        "connection",
        [column, "next_attempt_at"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    """Add refresh_at, fill it for rows with an expiry, and move the claim index onto it."""
    op.add_column("connection", sa.Column("refresh_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE connection SET refresh_at = expires_at - interval '600 seconds' WHERE expires_at IS NOT NULL"
        )
    else:  # the text format SQLAlchemy writes for naive UTC datetimes
        op.execute(
            "UPDATE connection SET refresh_at = strftime('%Y-%m-%d %H:%M:%f000', expires_at, '-600 seconds') "
            "WHERE expires_at IS NOT NULL"
        )
    op.drop_index("ix_connection_due", table_name="connection")
    _due_index("refresh_at", CLAIMABLE)


def downgrade() -> None:
    """Move the claim index back onto expires_at and drop refresh_at."""
    op.drop_index("ix_connection_due", table_name="connection")
    _due_index("expires_at", CLAIMABLE_OLD)
    with op.batch_alter_table("connection") as batch:
        batch.drop_column("refresh_at")
