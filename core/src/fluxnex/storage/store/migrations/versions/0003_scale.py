"""Scale: a partial index that serves the refresh claim in order, trigger-kept status counts, fillfactor.

- ``ix_connection_due (expires_at, next_attempt_at) WHERE status IN ('ACTIVE', 'ERROR') AND expires_at IS NOT
  NULL``: the claim walks it in ``expires_at`` order and stops at its ``LIMIT``, whatever the backlog.
- ``connection_count (status, shard, n)``: kept exact by row triggers in the writing transaction, so ``fluxnex
  status`` reads a handful of rows instead of counting the table. On PostgreSQL a writer adds to the shard
  ``pg_backend_pid() % 16``, so concurrent inserts from different sessions do not queue on one hot row; the
  counts are the sums over shards. Backfilled here under the table lock the triggers take.
- PostgreSQL: ``fillfactor = 85`` on ``connection``, so a rewrite of ``data`` (key rotation) finds room in its
  own page and is a HOT update instead of growing the table and every index (existing pages take it on the next
  ``VACUUM FULL`` or ``pg_repack``; see docs/operations.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CLAIMABLE = "status IN ('ACTIVE', 'ERROR') AND expires_at IS NOT NULL"

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER connection_count_insert AFTER INSERT ON connection BEGIN
        INSERT INTO connection_count (status, shard, n) VALUES (NEW.status, 0, 1)
        ON CONFLICT (status, shard) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER connection_count_delete AFTER DELETE ON connection BEGIN
        INSERT INTO connection_count (status, shard, n) VALUES (OLD.status, 0, -1)
        ON CONFLICT (status, shard) DO UPDATE SET n = n - 1;
    END""",
    """CREATE TRIGGER connection_count_status AFTER UPDATE OF status ON connection
    WHEN OLD.status IS NOT NEW.status BEGIN
        INSERT INTO connection_count (status, shard, n) VALUES (OLD.status, 0, -1)
        ON CONFLICT (status, shard) DO UPDATE SET n = n - 1;
        INSERT INTO connection_count (status, shard, n) VALUES (NEW.status, 0, 1)
        ON CONFLICT (status, shard) DO UPDATE SET n = n + 1;
    END""",
]

# One row-level function for the three events. A session adds to its own shard, so concurrent writers touch
# different counter rows; a status change touches its two rows in status order, so two sessions that share a
# shard cannot deadlock on them. The schema is written into the function when it is created (no per-call
# search_path switch, which cost about a tenth of an insert): sessions that name the table with its schema
# count the same. Row-level rather than statement-level with transition tables: cheaper for the one-row
# inserts of create_connection (measured: 0.95x of no trigger against 0.84x; benchmarks/bench_status.py).
_PG_FUNCTION = """CREATE FUNCTION {schema}.connection_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    my_shard smallint := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {schema}.connection_count AS c (status, shard, n) VALUES (NEW.status, my_shard, 1)
        ON CONFLICT (status, shard) DO UPDATE SET n = c.n + 1;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {schema}.connection_count AS c (status, shard, n) VALUES (OLD.status, my_shard, -1)
        ON CONFLICT (status, shard) DO UPDATE SET n = c.n - 1;
    ELSE
        INSERT INTO {schema}.connection_count AS c (status, shard, n)
        VALUES (OLD.status, my_shard, -1), (NEW.status, my_shard, 1)
        ORDER BY 1
        ON CONFLICT (status, shard) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END $$"""
_PG_CLEAR = """CREATE FUNCTION {schema}.connection_count_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {schema}.connection_count;
    RETURN NULL;
END $$"""
_PG_TRIGGERS = [
    """CREATE TRIGGER connection_count_insert AFTER INSERT ON connection
    FOR EACH ROW EXECUTE FUNCTION {schema}.connection_count_row()""",
    """CREATE TRIGGER connection_count_delete AFTER DELETE ON connection
    FOR EACH ROW EXECUTE FUNCTION {schema}.connection_count_row()""",
    """CREATE TRIGGER connection_count_status AFTER UPDATE OF status ON connection
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION {schema}.connection_count_row()""",
    """CREATE TRIGGER connection_count_truncate AFTER TRUNCATE ON connection
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.connection_count_clear()""",
]


def upgrade() -> None:
    """Add the claim index, the counts table with its triggers and backfill, and (PostgreSQL) the fillfactor."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        # Held to the end of the migration's transaction: no write slips between the triggers and the backfill.
        op.execute("LOCK TABLE connection IN SHARE ROW EXCLUSIVE MODE")
        op.execute("ALTER TABLE connection SET (fillfactor = 85)")
    op.create_index(
        "ix_connection_due",
        "connection",
        ["expires_at", "next_attempt_at"],
        sqlite_where=sa.text(CLAIMABLE),
        postgresql_where=sa.text(CLAIMABLE),
    )
    op.create_table(
        "connection_count",
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("status", "shard", name="pk_connection_count"),
    )
    if postgres:
        schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
        for statement in [_PG_FUNCTION, _PG_CLEAR, *_PG_TRIGGERS]:
            op.execute(statement.replace("{schema}", schema))
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(
        "INSERT INTO connection_count (status, shard, n) SELECT status, 0, count(*) FROM connection GROUP BY status"
    )


def downgrade() -> None:
    """Drop the triggers, the counts table and the claim index; reset the fillfactor."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in ("connection_count_insert", "connection_count_delete", "connection_count_status"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON connection" if postgres else ""))
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS connection_count_truncate ON connection")
        for fn in ("connection_count_row", "connection_count_clear"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
        op.execute("ALTER TABLE connection RESET (fillfactor)")
    op.drop_table("connection_count")
    op.drop_index("ix_connection_due", table_name="connection")
