"""Driver failures as ``fluxnex.DatabaseError``: one line, naming the database host, never a password."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from fluxnex.contract.errors import DatabaseError, FluxnexError, PoolTimeout

__all__ = ["DriverErrors"]

_HINTS = (
    ("too many clients", "the server's max_connections is used up: lower FLUXNEX_DB_POOL_SIZE or raise it"),
    ("remaining connection slots", "the server's max_connections is used up: lower FLUXNEX_DB_POOL_SIZE or raise it"),
    ("password authentication failed", "check the user and password of the database URL"),
    ("does not exist", "check the database name of the URL, or create it"),
    ("connection refused", "is the server running and reachable?"),
    ("database is locked", "another process holds the SQLite write lock"),
    ("unable to open database file", "check that the file and its directory exist and are writable"),
    ("readonly database", "check that the file and its directory are writable"),
)


def describe(url: URL) -> str:
    """The database as messages name it: ``host:port/db`` for servers, the file for SQLite."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite file {url.database}"
    port = f":{url.port}" if url.port else ""
    return f"postgresql {url.host or 'localhost'}{port}/{url.database or ''}"


class DriverErrors:
    """Turns driver and SQLAlchemy exceptions of one database into ``DatabaseError``."""

    def __init__(self, engine: sa.Engine) -> None:
        url = engine.url
        self._engine = engine
        self.where = describe(url)
        self._secret = url.password if isinstance(url.password, str) and url.password else None

    def wrap(self, exc: BaseException) -> FluxnexError:
        """The ``DatabaseError`` for a driver exception (a FluxNex error passes through unchanged)."""
        if isinstance(exc, FluxnexError):
            return exc
        if isinstance(exc, sa.exc.TimeoutError):
            return self.pool_timeout(self._engine.pool)
        orig = getattr(exc, "orig", None) if isinstance(exc, sa.exc.DBAPIError) else None
        text = str(orig if orig is not None else exc).strip()
        line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
        if self._secret:
            line = line.replace(self._secret, "***")
        hint = next((h for needle, h in _HINTS if needle in text.lower()), None)
        return DatabaseError(f"database {self.where} failed: {line[:300]}", hint=hint)

    def pool_timeout(self, pool: Any) -> PoolTimeout:
        """The error for a pool that stayed exhausted for its whole timeout."""
        size = pool.size() if hasattr(pool, "size") else "?"
        timeout = getattr(pool, "_timeout", None)
        waited = f" for {timeout:g}s" if isinstance(timeout, int | float) else ""
        return PoolTimeout(
            f"database pool of {self.where}: all {size} connections stayed in use{waited}",
            hint="raise FLUXNEX_DB_POOL_SIZE (pool_size) or FLUXNEX_DB_POOL_TIMEOUT, or lower the concurrency",
        )

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Re-raise driver and SQLAlchemy errors in the block as ``DatabaseError`` (integrity errors pass)."""
        try:
            yield
        except (sa.exc.IntegrityError, sqlite3.IntegrityError):
            raise
        except sa.exc.TimeoutError as exc:
            raise self.pool_timeout(self._engine.pool) from exc
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            raise self.wrap(exc) from exc
        except Exception as exc:
            if _is_driver_error(exc):
                raise self.wrap(exc) from exc
            raise


def _is_driver_error(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is optional
        return False
    return isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.IntegrityError)
