"""PostgreSQL sessions carry a lock timeout and a statement timeout (configurable): a table lock held elsewhere
gives an error within seconds instead of blocking every read and write for as long as it is held."""

from __future__ import annotations

import uuid

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConfigurationError
from fluxnex.storage.crypto import generate_key_line
from fluxnex.storage.store import create_engine
from store_fixtures import *  # noqa: F403 - fixtures
from store_fixtures import pg_conninfo

TENANT = uuid.uuid4()


def _settings(url: str) -> tuple[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            lock = conn.exec_driver_sql("SHOW lock_timeout").scalar()
            statement = conn.exec_driver_sql("SHOW statement_timeout").scalar()
    finally:
        engine.dispose()
    return str(lock), str(statement)


def test_sessions_get_the_default_timeouts_and_keep_the_urls_options(pg_schema_url: str) -> None:
    assert _settings(pg_schema_url) == ("5s", "30s")
    engine = create_engine(pg_schema_url)
    try:
        assert "search_path" in str(engine.url.query["options"])  # the fixture's own option is kept
    finally:
        engine.dispose()


def test_timeouts_are_configurable(pg_schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXNEX_PG_LOCK_TIMEOUT_MS", "1500")
    monkeypatch.setenv("FLUXNEX_PG_STATEMENT_TIMEOUT_MS", "0")
    assert _settings(pg_schema_url) == ("1500ms", "0")
    monkeypatch.setenv("FLUXNEX_PG_LOCK_TIMEOUT_MS", "soon")
    with pytest.raises(ConfigurationError, match="FLUXNEX_PG_LOCK_TIMEOUT_MS must be a whole number"):
        create_engine(pg_schema_url)


@pytest.mark.timeout(60)
def test_a_table_lock_held_elsewhere_is_an_error_within_the_lock_timeout(
    pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    monkeypatch.setenv("FLUXNEX_PG_LOCK_TIMEOUT_MS", "1000")
    mgr = CredentialManager(pg_schema_url, generate_key_line("k1"))
    try:
        mgr.create_connection(TENANT, "httpHeaderAuth", "a", {"name": "X", "value": "v"})
        schema = str(make_url(pg_schema_url).query["options"]).split("search_path=")[1].split()[0]
        base = pg_conninfo(str(make_url(pg_schema_url).difference_update_query(["options"])))
        with psycopg.connect(base) as locker:  # another session holds the table for as long as it likes
            locker.execute(f'LOCK TABLE "{schema}".connection IN ACCESS EXCLUSIVE MODE')
            for attempt in (lambda: mgr.get_connection(TENANT, "a"),
                            lambda: mgr.create_connection(TENANT, "httpHeaderAuth", "b", {"name": "X", "value": "v"})):
                # the lock is held until rollback: without a lock timeout this waits forever (pytest's timeout)
                with pytest.raises(Exception, match="lock timeout"):  # DatabaseError once driver errors are wrapped
                    attempt()
            locker.rollback()
        assert mgr.get_connection(TENANT, "a")["value"] == "v"  # released: everything works again
        assert [c.name for c in mgr.list_connections(TENANT)] == ["a"]  # the timed-out insert wrote nothing
    finally:
        mgr.close()
