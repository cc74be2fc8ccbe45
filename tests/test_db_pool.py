"""One bounded database pool per manager: threads borrow and return, nothing is tied to a thread's life.

Counts are the real ones: PostgreSQL's ``pg_stat_activity`` rows for this manager's ``application_name``,
and the process's open file descriptors for SQLite.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import DatabaseError, PoolTimeout
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.storage.store import DEFAULT_POOL_SIZE, current_revision
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import PG_ENV, oauth_data, pg_conninfo, wait_for
from sqlalchemy.engine import make_url


@pytest.fixture
def app_url(db_url: str) -> str:
    """``db_url`` with a unique PostgreSQL application_name, so the server's count is this test's alone."""
    if db_url.startswith("sqlite"):
        return db_url
    return make_url(db_url).update_query_dict({"application_name": f"fx-{uuid.uuid4().hex[:12]}"}).render_as_string(
        hide_password=False
    )


def open_connections(url: str) -> int:
    """Server connections of this URL's application_name (PostgreSQL), else this process's fds on the database
    files (SQLite: the database, its WAL and shared-memory files)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = os.path.realpath(str(parsed.database))
        targets = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                targets.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:  # closed meanwhile
                continue
        return sum(1 for t in targets if t.startswith(database))
    import psycopg

    name = parsed.query["application_name"]
    with psycopg.connect(pg_conninfo(os.environ[PG_ENV]), autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)).fetchone()
    assert row is not None
    return int(row[0])


#: Open file descriptors one SQLite connection holds at most (database, WAL, shared memory).
SQLITE_FDS = 3


def bound(url: str, pool_size: int) -> int:
    """The most ``open_connections`` may show: the pool size, or (SQLite) the database fds of a full pool."""
    return SQLITE_FDS * pool_size if url.startswith("sqlite") else pool_size


def run_threads(n: int, target: Any) -> None:
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_short_lived_threads_leave_the_connection_count_flat(app_url: str, keys: str, sandbox: SandboxProvider) -> None:
    mgr = CredentialManager(app_url, keys)
    try:
        tenant = uuid.uuid4()
        mgr.create_connection(tenant, "oAuth2Api", "c", oauth_data(sandbox))
        errors: list[BaseException] = []

        def call() -> None:
            try:
                mgr.get_connection(tenant, "c")
                mgr.get_connection_info(tenant, "c")
            except BaseException as exc:
                errors.append(exc)

        counts = []
        for _ in range(4):
            run_threads(30, call)  # a web app starting a thread per request
            counts.append(open_connections(app_url))
        assert not errors
        assert mgr.max_database_connections == DEFAULT_POOL_SIZE
        assert max(counts) <= bound(app_url, DEFAULT_POOL_SIZE), counts
    finally:
        mgr.close()
    if not app_url.startswith("sqlite"):
        # a closed connection's server process leaves pg_stat_activity a moment after the client hung up
        wait_for(lambda: open_connections(app_url) == 0, 10, "the server to see every connection closed")


def test_a_long_running_worker_keeps_a_flat_count(app_url: str, keys: str, sandbox: SandboxProvider) -> None:
    mgr = CredentialManager(app_url, keys)
    worker = RefreshWorker(mgr, horizon=600, interval=0, concurrency=8)
    try:
        tenant = uuid.uuid4()
        for i in range(8):
            mgr.create_connection(tenant, "oAuth2Api", f"c{i}", oauth_data(sandbox))
        connections: list[int] = []
        refresh_threads: set[int] = set()
        for _ in range(8):
            for row in mgr.store.list():  # every token due again: each cycle refreshes all eight
                mgr.store.update_cas(row.id, row.version, expires_at=row.created_at, refresh_at=row.created_at)
            assert worker.run_once().refreshed == 8
            connections.append(open_connections(app_url))
            refresh_threads |= {t.ident or 0 for t in threading.enumerate() if t.name.startswith("fluxnex-refresh")}
        assert max(connections) <= bound(app_url, mgr.max_database_connections), connections
        # one executor for the worker's life: the same (at most ``concurrency``) threads every cycle
        assert 0 < len(refresh_threads) <= worker.concurrency, len(refresh_threads)
    finally:
        worker.close()
        mgr.close()


def test_an_exhausted_pool_gives_pool_timeout_naming_the_pool(db_url: str, keys: str) -> None:
    mgr = CredentialManager(db_url, keys, pool_size=1, pool_timeout=0.3)
    try:
        tenant = uuid.uuid4()
        mgr.create_connection(tenant, "httpHeaderAuth", "h", {"name": "X-Key", "value": "v"})
        with mgr.store._raw.borrow():  # the pool's only connection is in use
            with pytest.raises(PoolTimeout) as caught:
                mgr.get_connection(tenant, "h")
            with pytest.raises(PoolTimeout):
                mgr.list_connections(tenant)
        message = str(caught.value)
        assert "database pool of " in message and "all 1 connections stayed in use for 0.3s" in message
        assert "FLUXNEX_DB_POOL_SIZE" in message and "\n" not in message
        assert mgr.get_connection(tenant, "h")["value"] == "v"  # given back: usable again
    finally:
        mgr.close()


def test_pool_settings_come_from_the_environment(db_url: str, keys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXNEX_DB_POOL_SIZE", "2")
    mgr = CredentialManager(db_url, keys)
    try:
        assert mgr.max_database_connections == 2
    finally:
        mgr.close()
    monkeypatch.setenv("FLUXNEX_DB_POOL_SIZE", "many")
    with pytest.raises(Exception, match="FLUXNEX_DB_POOL_SIZE must be a number, got 'many'"):
        CredentialManager(db_url, keys)


def test_an_unreachable_postgresql_is_one_database_error(keys: str) -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set")
    closed = "postgresql+psycopg://fluxnex:s3cret-pw@127.0.0.1:1/test"
    with pytest.raises(DatabaseError) as caught:
        CredentialManager(closed, keys)
    message = str(caught.value)
    assert message.startswith("database postgresql 127.0.0.1:1/test failed: ") and "\n" not in message
    assert "s3cret-pw" not in message and "is the server running" in message
    assert caught.value.__cause__ is not None
    with pytest.raises(DatabaseError, match=r"^database postgresql 127\.0\.0\.1:1/test failed: .*refused"):
        current_revision(closed)  # what `fluxnex status` / `fluxnex db current` call

    missing = make_url(os.environ[PG_ENV]).set(database=f"fx_missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(DatabaseError, match=r"does not exist") as caught:
        CredentialManager(missing.render_as_string(hide_password=False), keys)
    assert "\n" not in str(caught.value)


def test_sqlite_driver_errors_are_database_errors(tmp_path: Any, keys: str) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "fluxnex.db").mkdir()  # a directory where the database file should be
    with pytest.raises(DatabaseError, match=r"database sqlite file .*fluxnex\.db failed: .*unable to open") as caught:
        CredentialManager(f"sqlite:///{tmp_path}/db/fluxnex.db", keys)
    assert "\n" not in str(caught.value) and caught.value.__cause__ is not None


def test_dropped_server_connections_are_replaced(app_url: str, keys: str) -> None:
    if app_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: a server-side disconnect")
    mgr = CredentialManager(app_url, keys)
    try:
        tenant = uuid.uuid4()
        mgr.create_connection(tenant, "httpHeaderAuth", "h", {"name": "X-Key", "value": "v"})
        import psycopg

        name = make_url(app_url).query["application_name"]
        with psycopg.connect(pg_conninfo(os.environ[PG_ENV]), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,))
        assert mgr.get_connection(tenant, "h")["value"] == "v"  # the dead connection is dropped, a new one made
        assert open_connections(app_url) <= mgr.max_database_connections
    finally:
        mgr.close()


def test_provider_calls_share_one_bounded_session(db_url: str, keys: str) -> None:
    mgr = CredentialManager(db_url, keys)
    try:
        seen: list[int] = []
        run_threads(30, lambda: seen.append(id(mgr.http)))
        assert len(set(seen)) == 1
    finally:
        mgr.close()
