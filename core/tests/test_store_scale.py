"""Costs that must not grow with the table, checked by plans and sizes (never timings).

- The claim reads the partial index ``ix_connection_due`` in order (no sort, no scan) and updates by primary key.
- ``count_by_status`` reads the trigger-kept ``connection_count`` table, and those counts stay exact through
  inserts, status changes, deletes, concurrent writers and the 0003 backfill.
- Key rotation on PostgreSQL leaves the table about the size it was (HOT updates in fillfactor room).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fluxnex.storage.crypto import Keyring, associated_data, generate_key_line
from fluxnex.storage.rotation import rotate_keys
from fluxnex.storage.store import ConnectionRow, ConnectionStore, Status, create_engine
from sqlalchemy.engine import make_url
from store_fixtures import *  # noqa: F403 - fixtures
from store_fixtures import PG_ENV, pg_conninfo

UTC = dt.UTC
NOW = dt.datetime.now(UTC).replace(microsecond=0)
ENVELOPE = {"v": 1, "kid": "k1", "n": "AAAA", "ct": "BBBB"}  # never decrypted by these tests


def _bulk_rows(store: ConnectionStore, count: int, due_every: int) -> None:
    """Insert ``count`` rows fast (one statement): every ``due_every``-th one expired, the others in 2 hours."""
    tenant = uuid.uuid4()
    rows: list[dict[str, Any]] = []
    for i in range(count):
        due = i % due_every == 0
        expires = NOW - dt.timedelta(minutes=1 + i % 50) if due else NOW + dt.timedelta(hours=2, seconds=i)
        status = "EXPIRED" if i % 97 == 1 else "ERROR" if i % 89 == 1 else "ACTIVE"
        rows.append({"id": uuid.uuid4(), "tenant_id": tenant, "type": "oAuth2Api", "name": f"c{i}",
                     "data": ENVELOPE, "status": status, "expires_at": expires,
                     "refresh_at": expires - dt.timedelta(minutes=10), "version": 1,
                     "refresh_failures": 0, "created_at": NOW, "updated_at": NOW})  # fmt: skip
    from fluxnex.storage.store import connection_table

    with store.engine.begin() as conn:
        conn.execute(connection_table.insert(), rows)
        if store.dialect == "postgresql":
            conn.exec_driver_sql("ANALYZE connection")


class _Statements:
    """The SQL statements (and parameters) an engine runs while the context is open."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.seen = engine, []  # type: list[tuple[str, Any]]

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        self.seen.append((statement, parameters))

    def __enter__(self) -> _Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)


def _plan(store: ConnectionStore, statement: str, parameters: Any) -> str:
    """The query plan of one statement, as text (SQLite: EXPLAIN QUERY PLAN details; PostgreSQL: EXPLAIN)."""
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(r[-1]) for r in rows)
        return "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters).all())


def _claim_plans(store: ConnectionStore, limit: int) -> tuple[str, str]:
    with _Statements(store.engine) as sql:
        claimed = store.claim_due(horizon_until=NOW, owner="w", lease_seconds=60, limit=limit, now=NOW)
    assert len(claimed) == limit
    picks = [s for s in sql.seen if s[0].lstrip().upper().startswith("SELECT")]
    updates = [s for s in sql.seen if s[0].lstrip().upper().startswith("UPDATE")]
    assert len(picks) == 1 and len(updates) == 1, sql.seen
    return _plan(store, *picks[0]), _plan(store, *updates[0])


@pytest.mark.parametrize("due_every", [8, 1000])  # 12.5% and 0.1% of the table due
def test_claim_reads_the_due_index_in_order_and_updates_by_primary_key(store: ConnectionStore, due_every: int) -> None:
    _bulk_rows(store, 20_000, due_every)
    pick, update = _claim_plans(store, 10)
    if store.dialect == "sqlite":
        assert "USING INDEX ix_connection_due (refresh_at<?)" in pick or "ix_connection_due (refresh_at" in pick, pick
        assert "TEMP B-TREE" not in pick and "SCAN" not in pick, pick
        assert "sqlite_autoindex_connection_1 (id=?)" in update and "SCAN" not in update, update
        assert "ix_connection_status_expires" not in update, update
    else:
        assert "Index Scan using ix_connection_due on connection" in pick, pick
        assert "Sort" not in pick and "Seq Scan" not in pick, pick
        assert "connection_pkey" in update and "Seq Scan" not in update, update


def _real_counts(store: ConnectionStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {s: n for s, n in conn.exec_driver_sql("SELECT status, count(*) FROM connection GROUP BY status")}


def _table_counts(store: ConnectionStore) -> dict[str, int]:
    """The raw counts table, summed over shards, statuses with a zero total left out."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT status, SUM(n) FROM connection_count GROUP BY status").all()
    return {s: int(n) for s, n in rows if int(n)}


def _assert_exact(store: ConnectionStore) -> None:
    real = _real_counts(store)
    assert _table_counts(store) == real
    assert store.count_by_status() == {s: real.get(s.value, 0) for s in Status}


def _row(tenant: uuid.UUID, name: str, **kw: Any) -> ConnectionRow:
    return ConnectionRow(id=uuid.uuid4(), tenant_id=tenant, type="oAuth2Api", name=name, data=ENVELOPE, **kw)


def test_counts_follow_inserts_status_changes_and_deletes(store: ConnectionStore) -> None:
    tenant = uuid.uuid4()
    _assert_exact(store)
    rows = [store.insert(_row(tenant, f"c{i}", expires_at=NOW)) for i in range(12)]
    _assert_exact(store)
    assert store.count_by_status()[Status.ACTIVE] == 12
    store.update_cas(rows[0].id, 1, status="ERROR")
    store.update_cas(rows[1].id, 1, status="EXPIRED")
    store.update_cas(rows[2].id, 1, status="ACTIVE", last_error=None)  # unchanged status: no count moves
    store.update_cas(rows[3].id, 1, refresh_failures=2)
    _assert_exact(store)
    store.acquire_lease(rows[4].id, "w", 60)
    store.complete_lease(rows[4].id, "w", 1, status="ERROR", last_error="HTTP 503")
    store.update_cas(rows[0].id, 2, status="ACTIVE")
    _assert_exact(store)
    assert store.delete(tenant, "c5") and store.delete_by_id(rows[1].id)
    _assert_exact(store)
    assert store.count_by_status() == {Status.ACTIVE: 9, Status.ERROR: 1, Status.EXPIRED: 0, Status.NOT_CONNECTED: 0}
    with store.engine.begin() as conn:  # a status this FluxNex does not know yet (a newer one may add some)
        conn.exec_driver_sql("UPDATE connection SET status = 'PENDING' WHERE name IN ('c6', 'c7')")
        conn.exec_driver_sql("DELETE FROM connection WHERE name = 'c8'")
    assert _table_counts(store) == _real_counts(store) == {"ACTIVE": 6, "ERROR": 1, "PENDING": 2}
    assert store.count() == 9
    assert store.count_by_status() == {Status.ACTIVE: 6, Status.ERROR: 1, Status.EXPIRED: 0, Status.NOT_CONNECTED: 0}


def test_count_by_status_does_not_read_the_connection_table(store: ConnectionStore) -> None:
    _bulk_rows(store, 2_000, 10)
    with _Statements(store.engine) as sql:
        counts = store.count_by_status()
    assert sum(counts.values()) == 2_000
    queries = [s for s in sql.seen if s[0].lstrip().upper().startswith("SELECT")]
    assert queries
    for statement, parameters in queries:
        plan = _plan(store, statement, parameters)
        assert "connection_count" in plan, plan
        assert "ix_connection_status_expires" not in plan and " connection " not in plan.replace("\n", " ") + " ", plan


def test_counts_stay_exact_under_concurrent_writers(store: ConnectionStore) -> None:
    tenant = uuid.uuid4()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(k: int) -> None:
        try:
            barrier.wait()
            mine = []
            for i in range(40):
                mine.append(store.insert(_row(tenant, f"w{k}-{i}")))
                if i % 3 == 0:  # flip a status, in both directions across writers
                    row = mine[-1]
                    mine[-1] = store.update_cas(row.id, row.version, status="ERROR" if k % 2 else "EXPIRED") or row
                if i % 5 == 4:
                    gone = mine.pop(0)
                    store.delete_by_id(gone.id)
                if i % 7 == 6 and mine:
                    row = mine[0]
                    mine[0] = store.update_cas(row.id, row.version, status="ACTIVE") or row
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    _assert_exact(store)
    assert sum(store.count_by_status().values()) == 4 * (40 - 8)


def test_migration_0003_backfills_the_counts(store_url: str) -> None:
    from alembic import command
    from fluxnex.storage.store._engine import _alembic_config

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            command.upgrade(_alembic_config(conn), "0002")
            conn.commit()
            for i, status in enumerate(["ACTIVE"] * 5 + ["ERROR"] * 2 + ["EXPIRED"]):
                conn.execute(
                    sa.text(
                        "INSERT INTO connection (id, tenant_id, type, name, data, status, version, refresh_failures,"
                        " created_at, updated_at) VALUES (:id, :t, 'x', :name, :data, :status, 1, 0, :now, :now)"
                    ).bindparams(sa.bindparam("id", type_=sa.Uuid()), sa.bindparam("t", type_=sa.Uuid())),
                    {
                        "id": uuid.uuid4(), "t": uuid.uuid4(), "name": f"n{i}", "data": json.dumps(ENVELOPE),
                        "status": status, "now": NOW.replace(tzinfo=None),
                    },
                )
            conn.commit()
    finally:
        engine.dispose()
    store = ConnectionStore(store_url)  # migrates 0002 -> head
    try:
        expected = {Status.ACTIVE: 5, Status.ERROR: 2, Status.EXPIRED: 1, Status.NOT_CONNECTED: 0}
        assert store.count_by_status() == expected
        _assert_exact(store)
    finally:
        store.dispose()


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database (not a schema: other sessions' open transactions would hold back pruning)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_conninfo(base), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(pg_conninfo(base), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _table_size(store: ConnectionStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_total_relation_size('connection')").scalar_one())


def _next_xid(store: ConnectionStore) -> int:
    """The id the server's next transaction gets (no id is taken for this)."""
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").scalar_one())


def _running_before(store: ConnectionStore, xid: int) -> bool:
    """Whether a transaction (in any database of the server) that took its id before ``xid`` is still running.

    Its id is in every snapshot taken meanwhile, in this database too, so the row versions written after it
    began cannot be pruned while it runs (whatever database it is in).
    """
    with store.engine.connect() as conn:
        oldest = int(conn.exec_driver_sql("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").scalar_one())
    return oldest < xid


def _wait_for_quiet(store: ConnectionStore, seconds: float = 120.0) -> None:
    """Wait (at most ``seconds``) until every transaction running now elsewhere on the server has ended."""
    xid, deadline = _next_xid(store), time.monotonic() + seconds
    while _running_before(store, xid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _holders(store: ConnectionStore) -> str:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT datname, pid, xact_start FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
            " AND pid <> pg_backend_pid() ORDER BY xact_start"
        ).all()
    return ", ".join(f"{d} pid {p} since {t:%H:%M:%S}" for d, p, t in rows) or "none left"


def _rotation_sizes(store: ConnectionStore, lines: list[str]) -> tuple[list[int], bool]:
    """Fill 4,000 rows under k0, rotate to k1, k2, k3; the table sizes, and whether pruning may have been held back.

    Pruning needs every snapshot on the server to be newer than the versions it removes, so a transaction
    (of any database on the shared server) that ran through a whole rotation stops it: detected per rotation,
    and the attempt does not count.
    """
    with store.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE connection")  # a fresh heap (new relfilenode) for each attempt
    first = Keyring.parse(lines[0])
    tenant = uuid.uuid4()
    rows: list[dict[str, Any]] = []
    for i in range(4_000):
        cid = uuid.uuid4()
        env = first.encrypt(b'{"accessToken": "' + b"a" * 40 + b'"}', associated_data(tenant, cid, "oAuth2Api"))
        rows.append({"id": cid, "tenant_id": tenant, "type": "oAuth2Api", "name": f"c{i}", "data": env,
                     "status": "ACTIVE", "version": 1, "refresh_failures": 0, "created_at": NOW,
                     "updated_at": NOW})  # fmt: skip
    from fluxnex.storage.store import connection_table

    with store.engine.begin() as conn:
        conn.execute(connection_table.insert(), rows)
    _wait_for_quiet(store)
    sizes, held_back = [_table_size(store)], False
    for step in range(1, 4):
        ring = Keyring.parse(",".join(reversed(lines[: step + 1])))
        started = _next_xid(store)
        assert rotate_keys(store, ring).rotated == 4_000
        held_back = held_back or _running_before(store, started)  # a transaction older than this rotation
        sizes.append(_table_size(store))
    assert store.list()[0].data["kid"] == "k3"
    return sizes, held_back


def test_rotation_does_not_grow_the_table_on_postgres(pg_database_url: str) -> None:
    """Three rotations grow the table less than 10% when nothing on the server holds back pruning.

    The server may be shared (other databases, other test runs): an attempt during which another
    transaction ran through a whole rotation is measured again once the server's transactions have ended.
    """
    lines = [generate_key_line(f"k{i}") for i in range(4)]
    store = ConnectionStore(pg_database_url)
    try:
        for _ in range(5):
            sizes, held_back = _rotation_sizes(store, lines)
            if not held_back:
                break
        assert not held_back, f"transactions elsewhere on the server held back pruning five times: {_holders(store)}"
        assert sizes[-1] < sizes[0] * 1.10, sizes  # all three rotations together: under 10% growth
    finally:
        store.dispose()


def test_operations_doc_states_the_shipped_fillfactor_and_index(pg_schema_url: str) -> None:
    import re

    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    documented = re.search(r"sets `fillfactor = (\d+)` on `connection`", doc)
    assert documented is not None
    store = ConnectionStore(pg_schema_url)
    try:
        with store.engine.connect() as conn:
            options = conn.exec_driver_sql("SELECT reloptions FROM pg_class WHERE oid = 'connection'::regclass")
            assert f"fillfactor={documented.group(1)}" in options.scalar_one()
            index = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_connection_due'"
                " AND schemaname = current_schema()"
            )
            assert "(refresh_at, next_attempt_at)" in index.scalar_one()
    finally:
        store.dispose()
    assert "`ix_connection_due (refresh_at,\n  next_attempt_at)" in doc



def test_fluxnex_status_reports_the_counts_table(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fluxnex status` shows the trigger-kept counts (a count over the table would show 2,000 ACTIVE here)."""
    import base64

    from click.testing import CliRunner
    from fluxnex.cli import cli

    store = ConnectionStore(store_url)
    try:
        _bulk_rows(store, 2_000, 10)
        real = _real_counts(store)
        with store.engine.begin() as conn:  # a marker no scan of `connection` could produce
            conn.exec_driver_sql("INSERT INTO connection_count (status, shard, n) VALUES ('ACTIVE', 99, 1005)")
    finally:
        store.dispose()
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", store_url)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode())
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["connections"]
    assert counts == {"ACTIVE": real["ACTIVE"] + 1005, "ERROR": real["ERROR"], "EXPIRED": real["EXPIRED"],
                      "NOT_CONNECTED": 0}


def test_counts_follow_writes_that_name_the_schema(pg_schema_url: str) -> None:
    import psycopg

    store = ConnectionStore(pg_schema_url)
    try:
        schema = make_url(pg_schema_url).query["options"].split("search_path=")[1]  # type: ignore[union-attr]
        base = os.environ[PG_ENV]
        with psycopg.connect(pg_conninfo(base), autocommit=True) as other:  # search_path without the schema
            other.execute(
                f'INSERT INTO "{schema}".connection (id, tenant_id, type, name, data, status, version,'
                " refresh_failures, created_at, updated_at) VALUES (gen_random_uuid(), gen_random_uuid(), 'x', 'n',"
                " '{}'::jsonb, 'ERROR', 1, 0, now(), now())"
            )
            other.execute(f'UPDATE "{schema}".connection SET status = \'EXPIRED\'')
        _assert_exact(store)
        assert store.count_by_status()[Status.EXPIRED] == 1
    finally:
        store.dispose()
