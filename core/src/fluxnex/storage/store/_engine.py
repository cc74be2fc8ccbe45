"""Engine creation (SQLite pragmas, PostgreSQL pre-ping), raw DBAPI connections and Alembic migrations."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from fluxnex.contract.errors import ConfigurationError, MigrationError
from fluxnex.storage.config import DEFAULT_POOL_SIZE, DEFAULT_POOL_TIMEOUT

__all__ = [
    "create_engine",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000
_PG_MIGRATION_LOCK = 0x666C75786E6578  # "fluxnex"


POSTGRES_EXTRA_HINT = "pip install 'fluxnex-core[postgres]'"


def _normalise_url(url: str | URL) -> URL:
    """Parse a URL, mapping plain ``postgresql://`` to psycopg 3 and rejecting in-memory SQLite.

    A PostgreSQL URL needs psycopg 3 installed (the ``postgres`` extra): without it the error says how to
    install it.
    """
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigurationError("the database URL cannot be parsed") from None
    backend = parsed.get_backend_name()
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ConfigurationError("PostgreSQL is supported through psycopg 3: use postgresql+psycopg://")
    if backend == "sqlite" and (not parsed.database or parsed.database == ":memory:"):
        raise ConfigurationError("in-memory SQLite is not supported: give a file path (sqlite:///path.db)")
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(f"unsupported database backend {backend!r}: use sqlite or postgresql")
    if backend == "postgresql":
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            raise ConfigurationError(
                f"PostgreSQL needs the psycopg driver, which is not installed: {POSTGRES_EXTRA_HINT}"
            )
        parsed = _with_timeouts(parsed)
    return parsed


def _sqlite_directory(parsed: URL) -> None:
    """Check that an explicit SQLite URL's directory exists; only the embedded default creates its own (0700)."""
    from fluxnex.storage.config import is_embedded_default

    assert parsed.database is not None
    directory = Path(parsed.database).expanduser().parent
    if directory.is_dir():
        return
    if not is_embedded_default(parsed.render_as_string(hide_password=False)):
        raise ConfigurationError(
            f"the directory of the SQLite database does not exist: {directory} (create it first; "
            "only the embedded default creates its own directory)"
        )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def _with_timeouts(url: URL) -> URL:
    """Add ``lock_timeout``/``statement_timeout`` to the URL's libpq ``options`` (unless the URL sets them).

    In the URL, so the engine's connections and the raw connections made from ``engine.url`` all get them.
    """
    from fluxnex.storage.config import postgres_timeouts

    existing = url.query.get("options", "")
    options = " ".join(existing) if isinstance(existing, tuple) else existing
    for name, ms in postgres_timeouts().items():
        if name not in options:
            options = f"{options} -c {name}={ms}".strip()
    return url.update_query_dict({"options": options})


def _private_file(path: Path) -> None:
    """Create a missing SQLite file as 0600 (in a new directory, 0700): names, tenants and errors live there.

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # an unwritable place is SQLite's to report when it opens the file (one line, with the fix)
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def sqlite_setup(dbapi_conn: Any) -> None:
    """Apply FluxNex's SQLite pragmas to a fresh DBAPI connection."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        cur.close()




def create_engine(
    url: str | URL, *, pool_size: int = DEFAULT_POOL_SIZE, pool_timeout: float = DEFAULT_POOL_TIMEOUT
) -> sa.Engine:
    """Create the engine: SQLite in WAL mode with a busy timeout, PostgreSQL via psycopg with pre-ping.

    Its pool is bounded: at most ``pool_size`` connections (no overflow), a caller waiting longer than
    ``pool_timeout`` seconds for one gets ``PoolTimeout``. The hot path borrows from the same pool.
    """
    parsed = _normalise_url(url)
    if pool_size < 1:
        raise ConfigurationError(f"the database pool size must be at least 1, got {pool_size}")
    if pool_timeout <= 0:
        raise ConfigurationError(f"the database pool timeout must be positive, got {pool_timeout}")
    bounded: dict[str, Any] = {
        "poolclass": sa.pool.QueuePool, "pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout,
    }  # fmt: skip
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        _sqlite_directory(parsed)
        _private_file(Path(parsed.database).expanduser())
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **bounded,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy emit BEGIN itself so "BEGIN IMMEDIATE" can be issued where needed.
            dbapi_conn.isolation_level = None
            sqlite_setup(dbapi_conn)

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    engine = sa.create_engine(parsed, pool_pre_ping=True, **bounded)

    @sa.event.listens_for(engine, "connect")
    def _on_pg_connect(dbapi_conn: Any, _record: Any) -> None:
        # timestamps come back in UTC, so the hot path's decoding converts nothing
        dbapi_conn.autocommit = True
        dbapi_conn.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.autocommit = False

    return engine


def _alembic_config(connection: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """Return the newest migration revision this FluxNex ships."""
    head = _script().get_current_head()
    assert head is not None
    return str(head)


def _db_revision(conn: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    known = {rev.revision for rev in _script().walk_revisions()}
    if revision not in known:
        raise MigrationError(
            f"database schema is at revision {revision}, newer than this FluxNex "
            f"(head {head_revision()}): upgrade fluxnex-core"
        )


def _upgrade_on(conn: sa.Connection) -> None:
    """Upgrade to head on an open connection, unless already there."""
    from alembic import command

    revision = _db_revision(conn)
    _check_known(revision)
    if revision == head_revision():
        return
    command.upgrade(_alembic_config(conn), "head")


def ensure_schema(engine: sa.Engine) -> None:
    """Migrate to head (PostgreSQL: under an advisory lock so racing processes apply it once)."""
    from fluxnex.storage.store._schema_check import is_at_head

    with engine.connect() as conn:
        if is_at_head(conn):
            return  # the usual case, answered without importing Alembic
        if engine.dialect.name == "postgresql":
            # waiting for another process's migration, and the migration itself, are not bounded by the
            # session timeouts (RESET below restores the connection's configured values)
            conn.exec_driver_sql("SET lock_timeout = 0; SET statement_timeout = 0")
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})")
            conn.commit()
            try:
                _upgrade_on(conn)
                conn.commit()
            finally:
                conn.rollback()
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})")
                conn.exec_driver_sql("RESET lock_timeout; RESET statement_timeout")
                conn.commit()
        else:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            _upgrade_on(conn)
            conn.commit()


def check_schema(engine: sa.Engine) -> None:
    """Raise MigrationError unless the database is exactly at head."""
    from fluxnex.storage.store._schema_check import is_at_head

    with engine.connect() as conn:
        if is_at_head(conn):
            return
        revision = _db_revision(conn)
    _check_known(revision)
    if revision != head_revision():
        raise MigrationError(
            f"database schema is at revision {revision or 'none'}, this FluxNex needs {head_revision()}: "
            "run `fluxnex db upgrade`"
        )


def upgrade(url: str | URL) -> None:
    """Migrate the database at ``url`` to head."""
    from fluxnex.storage.store._errors import DriverErrors

    engine = create_engine(url, pool_size=1)
    try:
        with DriverErrors(engine).translated():
            ensure_schema(engine)
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    """Return the database's current migration revision (None for an empty database)."""
    from fluxnex.storage.store._errors import DriverErrors

    engine = create_engine(url, pool_size=1)
    try:
        with DriverErrors(engine).translated(), engine.connect() as conn:
            return _db_revision(conn)
    finally:
        engine.dispose()
