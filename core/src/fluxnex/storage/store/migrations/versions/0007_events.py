"""Events: the outbox ``connection_event`` filled by triggers, webhook endpoints and deliveries, reconnect warnings.

The triggers write an event in the same statement (so the same transaction) as the state change it describes, on
every write path (the hot path's prepared SQL, SQLAlchemy Core, batches): a change rolled back leaves no event.
They derive the transitions from plaintext columns alone:

- ``connection.created`` / ``connection.deleted``: a row inserted / deleted;
- ``connection.expired``: the status becomes EXPIRED;
- ``connection.recovered``: the status goes from ERROR to ACTIVE;
- ``connection.refresh_failed``: ``refresh_failures`` grows and the status is not EXPIRED (``attempts`` = the count);
- ``connection.refreshed``: ``last_refreshed_at`` moves, only while a webhook endpoint subscribes to it.

``ix_connection_keep_alive`` (type, last_refreshed_at) serves the worker's keep-alive claim (idle connections
of a type whose refresh token goes stale unless used). The delete trigger also drops the connection's
``reconnect_warning`` row.

``connection.updated`` and ``connection.reconnected`` are the application's intent (same columns, another meaning):
``ConnectionStore.update_cas(event=...)`` writes them in its own transaction. ``connection.reconnect_soon`` is
written by the worker's sweep together with its ``reconnect_warning`` row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

# ruff: noqa: S608 - the SQL is fixed text built from this module's constants
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLS = "id, type, connection_id, tenant_id, connection_type, name, status, error, attempts, occurred_at"

# (event type, condition on OLD/NEW); the SQLite and PostgreSQL spellings of "is distinct from" differ.
_UPDATE_EVENTS = [
    ("connection.expired", "NEW.status = 'EXPIRED' AND OLD.status <> 'EXPIRED'"),
    ("connection.recovered", "OLD.status = 'ERROR' AND NEW.status = 'ACTIVE'"),
    ("connection.refresh_failed", "NEW.refresh_failures > OLD.refresh_failures AND NEW.status <> 'EXPIRED'"),
    (
        "connection.refreshed",
        "NEW.last_refreshed_at {distinct} OLD.last_refreshed_at AND NEW.last_refreshed_at IS NOT NULL"
        " AND NEW.status = 'ACTIVE' AND EXISTS (SELECT 1 FROM {schema}webhook_endpoint w WHERE w.wants_refreshed"
        " {true} AND (w.tenant_id IS NULL OR w.tenant_id = NEW.tenant_id))",
    ),
]
_WHEN = (
    "NEW.status {distinct} OLD.status OR NEW.refresh_failures > OLD.refresh_failures"
    " OR NEW.last_refreshed_at {distinct} OLD.last_refreshed_at"
)


# A random (version 4) UUID as the 32 hex digits SQLAlchemy stores on SQLite.
_SQLITE_UUID4 = (
    "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2) || substr('89ab', 1 + (abs(random()) % 4), 1)"
    " || substr(hex(randomblob(2)), 2) || hex(randomblob(6)))"
)


def _values(event: str, ref: str, *, sqlite: bool) -> str:
    new_id = _SQLITE_UUID4 if sqlite else "gen_random_uuid()"
    now = "strftime('%Y-%m-%d %H:%M:%f000', 'now')" if sqlite else "now()"
    return (
        f"{new_id}, '{event}', {ref}.id, {ref}.tenant_id, {ref}.type, {ref}.name, {ref}.status, {ref}.last_error,"
        f" {ref}.refresh_failures, {now}"
    )


# The trigger SQL below is fixed text built from the constants above, no input in it.


def _sqlite_triggers() -> list[str]:
    updates = "\n".join(
        f"INSERT INTO connection_event ({_COLS}) SELECT {_values(event, 'NEW', sqlite=True)} WHERE "
        + cond.format(distinct="IS NOT", schema="", true="= 1")
        + ";"
        for event, cond in _UPDATE_EVENTS
    )
    return [
        f"""CREATE TRIGGER connection_event_insert AFTER INSERT ON connection BEGIN
            INSERT INTO connection_event ({_COLS}) VALUES ({_values('connection.created', 'NEW', sqlite=True)});
        END""",
        f"""CREATE TRIGGER connection_event_delete AFTER DELETE ON connection BEGIN
            INSERT INTO connection_event ({_COLS}) VALUES ({_values('connection.deleted', 'OLD', sqlite=True)});
            DELETE FROM reconnect_warning WHERE connection_id = OLD.id;
        END""",
        f"""CREATE TRIGGER connection_event_update AFTER UPDATE ON connection
        WHEN {_WHEN.format(distinct="IS NOT")} BEGIN
        {updates}
        END""",
    ]


def _pg_statements(schema: str) -> list[str]:
    q = f"{schema}."
    updates = "\n".join(
        f"IF {cond.format(distinct='IS DISTINCT FROM', schema=q, true='')} THEN INSERT INTO {q}connection_event"
        f" ({_COLS}) VALUES ({_values(event, 'NEW', sqlite=False)}); END IF;"
        for event, cond in _UPDATE_EVENTS
    )
    return [
        f"""CREATE FUNCTION {q}connection_event_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO {q}connection_event ({_COLS}) VALUES ({_values('connection.created', 'NEW', sqlite=False)});
            ELSIF TG_OP = 'DELETE' THEN
                INSERT INTO {q}connection_event ({_COLS}) VALUES ({_values('connection.deleted', 'OLD', sqlite=False)});
                DELETE FROM {q}reconnect_warning WHERE connection_id = OLD.id;
            ELSE
                {updates}
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER connection_event_insert AFTER INSERT ON connection FOR EACH ROW"
        f" EXECUTE FUNCTION {q}connection_event_row()",
        "CREATE TRIGGER connection_event_delete AFTER DELETE ON connection FOR EACH ROW"
        f" EXECUTE FUNCTION {q}connection_event_row()",
        "CREATE TRIGGER connection_event_update AFTER UPDATE ON connection FOR EACH ROW"
        f" WHEN ({_WHEN.format(distinct='IS DISTINCT FROM')}) EXECUTE FUNCTION {q}connection_event_row()",
    ]


def upgrade() -> None:
    """Create the outbox, webhook and warning tables and the triggers that fill the outbox."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    ts = sa.DateTime(timezone=True)
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "connection_event",
        sa.Column("seq", seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connection_type", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("occurred_at", ts, nullable=False),
        sa.Column("dispatch_owner", sa.String(200), nullable=True),
        sa.Column("dispatch_until", ts, nullable=True),
        sa.Column("dispatched_at", ts, nullable=True),
    )
    op.create_index(
        "ix_connection_event_pending", "connection_event", ["seq"],
        sqlite_where=sa.text("dispatched_at IS NULL"), postgresql_where=sa.text("dispatched_at IS NULL"),
    )  # fmt: skip
    op.create_index("ix_connection_event_occurred", "connection_event", ["occurred_at"])
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("events", sa.Text(), nullable=True),
        sa.Column("wants_refreshed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("secret", sa.JSON(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", seq, primary_key=True, autoincrement=True),
        sa.Column("event_seq", seq, sa.ForeignKey("connection_event.seq", ondelete="CASCADE"), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), sa.ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="PENDING"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", ts, nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", ts, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("delivered_at", ts, nullable=True),
        sa.UniqueConstraint("event_seq", "endpoint_id", name="uq_webhook_delivery_event_endpoint"),
    )
    op.create_index(
        "ix_webhook_delivery_due", "webhook_delivery", ["next_attempt_at"],
        sqlite_where=sa.text("status = 'PENDING'"), postgresql_where=sa.text("status = 'PENDING'"),
    )  # fmt: skip
    op.create_index("ix_webhook_delivery_endpoint", "webhook_delivery", ["endpoint_id"])
    op.create_table(
        "reconnect_warning",
        sa.Column("connection_id", sa.Uuid(), primary_key=True),  # no foreign key: TRUNCATE connection stays possible
        sa.Column("refresh_expires_at", ts, nullable=False),
        sa.Column("warned_at", ts, nullable=False),
    )
    op.create_index(
        "ix_connection_refresh_expires", "connection", ["refresh_expires_at"],
        sqlite_where=sa.text("refresh_expires_at IS NOT NULL"),
        postgresql_where=sa.text("refresh_expires_at IS NOT NULL"),
    )  # fmt: skip
    op.create_index("ix_connection_keep_alive", "connection", ["type", "last_refreshed_at"])
    if postgres:
        schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
        for statement in _pg_statements(schema):
            op.execute(statement)
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers and the event tables."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in ("connection_event_insert", "connection_event_delete", "connection_event_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON connection" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS connection_event_row()")
    op.drop_index("ix_connection_keep_alive", table_name="connection")
    op.drop_index("ix_connection_refresh_expires", table_name="connection")
    for table in ("reconnect_warning", "webhook_delivery", "webhook_endpoint", "connection_event"):
        op.drop_table(table)
