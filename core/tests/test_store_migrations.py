"""Tests of the Alembic migrations: fresh databases, unknown revisions, racing migrators."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa
from fluxnex.contract.errors import ConfigurationError, MigrationError
from fluxnex.storage.store import ConnectionStore, create_engine, current_revision, head_revision, upgrade
from store_fixtures import *  # noqa: F403 - fixtures


def test_fresh_database_migrates_to_head(store_url: str) -> None:
    assert current_revision(store_url) is None
    upgrade(store_url)
    assert current_revision(store_url) == head_revision() == "0007"
    upgrade(store_url)  # idempotent
    store = ConnectionStore(store_url, migrate=False)
    try:
        assert store.list() == []
        cols = {c["name"] for c in sa.inspect(store.engine).get_columns("connection")}
        assert {"id", "tenant_id", "data", "version", "lease_owner", "next_attempt_at"} <= cols
        indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("connection")}
        assert {"ix_connection_status_expires", "ix_connection_tenant"} <= indexes
    finally:
        store.dispose()


def test_unmigrated_database_without_migrate_is_refused(store_url: str) -> None:
    with pytest.raises(MigrationError, match="revision none"):
        ConnectionStore(store_url, migrate=False)


def test_unknown_revision_is_a_clear_error(store_url: str) -> None:
    upgrade(store_url)
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    message = rf"database schema is at revision 9999_future, newer than this FluxNex \(head {head_revision()}\)"
    for attempt in (lambda: ConnectionStore(store_url), lambda: upgrade(store_url)):
        with pytest.raises(MigrationError, match=message) as info:
            attempt()
        assert info.value.__cause__ is None


def test_an_explicit_sqlite_url_needs_its_directory_the_embedded_default_makes_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match=r"directory of the SQLite database does not exist: .*/a/b"):
        ConnectionStore(f"sqlite:///{tmp_path}/a/b/c.db")
    assert not (tmp_path / "a").exists()  # nothing created on the way
    from fluxnex.storage import config

    monkeypatch.setenv("FLUXNEX_HOME", str(tmp_path / "home" / "fluxnex"))
    store = ConnectionStore(config.default_database_url())
    store.dispose()
    assert (tmp_path / "home" / "fluxnex" / "fluxnex.db").is_file()
    assert (tmp_path / "home" / "fluxnex").stat().st_mode & 0o777 == 0o700


def test_sqlite_pragmas(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    store = ConnectionStore(url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://x/y", "postgresql+psycopg2://x/y"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        ConnectionStore(url)


def _migrate(url: str) -> None:
    upgrade(url)


def test_concurrent_migrators_on_postgres(pg_schema_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_migrate, args=(pg_schema_url,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert current_revision(pg_schema_url) == head_revision()


def test_upgrade_from_0001_keeps_rows_and_adds_refresh_expiry(store_url: str) -> None:
    """A database created by the first release migrates in place: rows survive, the new column is NULL."""
    from alembic import command
    from fluxnex.storage.store._engine import _alembic_config

    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(sa.text(
            "INSERT INTO connection (id, tenant_id, type, name, data, status, version, refresh_failures, "
            "created_at, updated_at) VALUES (:id, :t, 'revenovaApi', 'old', :d, 'ACTIVE', 1, 0, :now, :now)"
        ), {"id": "0" * 32 if engine.dialect.name == "sqlite" else "00000000-0000-0000-0000-000000000000",
            "t": "1" * 32 if engine.dialect.name == "sqlite" else "11111111-1111-1111-1111-111111111111",
            "d": '{"v": 1}', "now": "2026-01-01 00:00:00"})
    engine.dispose()
    assert current_revision(store_url) == "0001"
    store = ConnectionStore(store_url)  # migrates to head on first use
    try:
        assert current_revision(store_url) == head_revision() == "0007"
        [row] = store.list()
        assert row.name == "old" and row.refresh_expires_at is None
    finally:
        store.dispose()
