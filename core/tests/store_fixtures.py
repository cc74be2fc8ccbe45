"""Store fixtures (a SQLite file and a PostgreSQL schema per test), star-imported by the tests that use them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import Keyring, generate_key_line
from fluxnex.storage.store import ConnectionStore
from sqlalchemy.engine import make_url

__all__ = ["keyring", "manager", "pg_schema_url", "store", "store_url"]

PG_ENV = "FLUXNEX_TEST_POSTGRES_URL"


def pg_conninfo(url: str) -> str:
    """Turn a SQLAlchemy PostgreSQL URL into a libpq URL psycopg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards (skips if no server set)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    import psycopg

    schema = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(pg_conninfo(base), autocommit=True) as admin:  # fails, not skips, if unreachable
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(pg_conninfo(base), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A database URL: a SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        os.makedirs(f"{tmp_path}/store", exist_ok=True)
        return f"sqlite:///{tmp_path}/store/fluxnex.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[ConnectionStore]:
    """A migrated ConnectionStore on each backend."""
    s = ConnectionStore(store_url)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def keyring() -> Keyring:
    """A one-key keyring."""
    return Keyring.parse(generate_key_line("k1"))


@pytest.fixture
def manager(store_url: str) -> Iterator[CredentialManager]:
    """A CredentialManager over ``store_url`` (each backend) with a fresh key, closed afterwards."""
    mgr = CredentialManager(database_url=store_url, encryption_keys=generate_key_line("k1"))
    try:
        yield mgr
    finally:
        mgr.close()
