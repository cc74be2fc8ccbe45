"""Bulk loading for the benchmarks: a million rows in seconds (SQLite executemany, PostgreSQL COPY), not through
``create_connection``; plus a throw-away PostgreSQL database per run and the size of a table.

Rows carry a real envelope when a keyring is given (rotation needs to decrypt them), else one fixed
placeholder envelope (claims and counts never decrypt). Statuses: 97% ACTIVE, 1% ERROR, 2% EXPIRED; a
``due`` fraction expires in the past, the rest an hour or more from now.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fluxnex.storage.crypto import Keyring, associated_data
from sqlalchemy.engine import make_url

UTC = dt.UTC
PAYLOAD = json.dumps(
    {"accessToken": "a" * 40, "refreshToken": "r" * 40, "clientId": "cid", "clientSecret": "s" * 32}
).encode()
PLACEHOLDER = {"v": 1, "kid": "bench", "n": "A" * 16, "ct": "B" * 300}
COLUMNS = ("id", "tenant_id", "type", "name", "data", "status", "expires_at", "version", "refresh_failures",
           "created_at", "updated_at", "refresh_at")  # fmt: skip


def pg_url() -> str | None:
    """The PostgreSQL server to benchmark on: ``FLUXNEX_BENCH_POSTGRES_URL``, else the tests' URL, else None."""
    return os.environ.get("FLUXNEX_BENCH_POSTGRES_URL") or os.environ.get("FLUXNEX_TEST_POSTGRES_URL")


def libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a libpq URL for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``base_url``, dropped afterwards; yields its URL.

    A database of its own (not a schema) so other sessions' open transactions do not hold back page pruning.
    """
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq(base_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq(base_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def rows(count: int, due: float, ring: Keyring | None = None, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """Yield ``count`` rows as tuples in ``COLUMNS`` order (Python values: UUIDs, aware datetimes, dicts)."""
    rnd = random.Random(seed)
    now = dt.datetime.now(UTC)
    tenants = [uuid.uuid4() for _ in range(max(1, count // 1000))]
    due_every = round(1 / due) if due > 0 else 0
    for i in range(count):
        cid, tenant = uuid.uuid4(), tenants[i % len(tenants)]
        r = rnd.random()
        status = "ACTIVE" if r < 0.97 else "ERROR" if r < 0.98 else "EXPIRED"
        if due_every and i % due_every == 0:
            expires = now - dt.timedelta(seconds=rnd.uniform(1, 3600))
            status = "EXPIRED" if status == "EXPIRED" and due < 0.01 else status  # few due: all claimable
            status = "ACTIVE" if status == "EXPIRED" and due < 0.01 else status
        else:
            expires = now + dt.timedelta(seconds=rnd.uniform(3600, 86400))
        data = ring.encrypt(PAYLOAD, associated_data(tenant, cid, "oAuth2Api")) if ring else PLACEHOLDER
        yield (cid, tenant, "oAuth2Api", f"conn-{i}", data, status, expires, 1, 0, now, now,
               expires - dt.timedelta(minutes=10))  # fmt: skip


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, uuid.UUID):
        return v.hex
    if isinstance(v, dt.datetime):
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(v, dict):
        return json.dumps(v)
    return v


def load(url: str, count: int, due: float, ring: Keyring | None = None) -> None:
    """Insert ``count`` rows into a migrated database (the status-count triggers run as for any insert)."""
    sql_cols = ", ".join(COLUMNS)
    if url.startswith("sqlite"):
        path = make_url(url).database
        assert path is not None
        conn = sqlite3.connect(Path(path), isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                f"INSERT INTO connection ({sql_cols}) VALUES ({', '.join('?' * len(COLUMNS))})",
                ([_sqlite_value(v) for v in row] for row in rows(count, due, ring)),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY connection ({sql_cols}) FROM STDIN") as copy:
            for row in rows(count, due, ring):
                copy.write_row((*row[:4], Jsonb(row[4]), *row[5:]))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE connection")


def size_bytes(url: str) -> int:
    """The table's total size: pg_total_relation_size (PostgreSQL), else the SQLite file plus its WAL."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        assert path is not None
        return sum(p.stat().st_size for p in Path(path).parent.glob(Path(path).name + "*"))
    import psycopg

    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT pg_total_relation_size('connection')").fetchone()
        assert row is not None
        return int(row[0])
