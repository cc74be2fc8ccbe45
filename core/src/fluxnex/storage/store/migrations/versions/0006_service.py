"""Add the connect service's tables: api_key, connect_session, oauth_state, oauth_app.

Every piece of the service's state lives here, so several ``fluxnex serve`` processes behind a load balancer
share it. Keys, session tokens and OAuth states are stored as SHA-256 hashes, never in plaintext; OAuth app
settings and a flow's PKCE verifier and form values are encryption envelopes like ``connection.data``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the four tables."""
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("scopes", sa.String(500), nullable=False),
        _when("created_at", nullable=False),
        _when("last_used_at"),
        _when("revoked_at"),
    )
    op.create_table(
        "connect_session",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        _when("used_at"),
    )
    op.create_table(
        "oauth_state",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        _when("used_at"),
    )
    op.create_table(
        "oauth_app",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(36), nullable=False, server_default=""),
        sa.Column("data", sa.JSON(), nullable=False),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.UniqueConstraint("type", "tenant", name="uq_oauth_app_type_tenant"),
    )


def downgrade() -> None:
    """Drop the four tables."""
    for table in ("oauth_app", "oauth_state", "connect_session", "api_key"):
        op.drop_table(table)
