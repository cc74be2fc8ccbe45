"""Store benchmark: median get()+decrypt+json.loads beside the raw sqlite3 floor (rotation: bench_rotation.py).

Run: ``PYTHONPATH=core/src python3 benchmarks/bench_store.py [--postgres URL]``.
Not a test: it prints figures; the timed assertions live in the benchmark harness.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import uuid
from pathlib import Path

from _timing import median_us
from fluxnex.storage.crypto import Keyring, associated_data, generate_key_line
from fluxnex.storage.store import ConnectionStore

PAYLOAD = {"accessToken": "x" * 40, "refreshToken": "y" * 40, "clientId": "cid", "clientSecret": "z" * 32}


def fill(store: ConnectionStore, ring: Keyring, tenant: uuid.UUID, rows: int) -> list[str]:
    """Insert ``rows`` connections quickly (one transaction) and return their names."""
    from fluxnex.storage.store import connection_table

    names, batch = [], []
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    for i in range(rows):
        cid, name = uuid.uuid4(), f"conn-{i}"
        env = ring.encrypt(json.dumps(PAYLOAD).encode(), associated_data(tenant, cid, "oAuth2Api"))
        batch.append({"id": cid, "tenant_id": tenant, "type": "oAuth2Api", "name": name, "data": env,
                      "status": "ACTIVE", "version": 1, "refresh_failures": 0,
                      "created_at": now, "updated_at": now})  # fmt: skip
        names.append(name)
        if len(batch) == 5000 or i == rows - 1:
            with store.engine.begin() as conn:
                conn.execute(connection_table.insert(), batch)
            batch = []
    return names


def bench_get(url: str, ring: Keyring, tenant: uuid.UUID, names: list[str]) -> float:
    store = ConnectionStore(url)
    name = names[len(names) // 2]

    def call() -> object:
        row = store.get(tenant, name)
        assert row is not None
        return json.loads(ring.decrypt(row.data, associated_data(tenant, row.id, row.type), what=name))

    try:
        return median_us(call)
    finally:
        store.dispose()


def bench_sqlite_floor(path: Path, ring: Keyring, tenant: uuid.UUID, name: str) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    aesgcm = ring._aead[ring.primary_kid]
    import base64

    th = tenant.hex

    def call() -> object:
        cid, data = conn.execute(
            "SELECT id, data FROM connection WHERE tenant_id = ? AND name = ?", (th, name)
        ).fetchone()
        env = json.loads(data)
        aad = associated_data(tenant, uuid.UUID(cid), "oAuth2Api")
        plain = aesgcm.decrypt(base64.urlsafe_b64decode(env["n"]), base64.urlsafe_b64decode(env["ct"]), aad)
        return json.loads(plain)

    try:
        return median_us(call)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL (an empty database/schema)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        ring = Keyring.parse(generate_key_line("k1"))
        tenant = uuid.uuid4()
        store = ConnectionStore(url)
        names = fill(store, ring, tenant, 10_000)
        store.dispose()
        floor = bench_sqlite_floor(path, ring, tenant, names[len(names) // 2])
        ours = bench_get(url, ring, tenant, names)
        print(f"sqlite get+decrypt+json: {ours:.1f} us/call   raw sqlite3 floor: {floor:.1f} us/call   "
              f"ratio {ours / floor:.2f}x")  # fmt: skip
    if args.postgres:
        ours_pg = bench_get_pg(args.postgres)
        print(f"postgresql get+decrypt+json: {ours_pg[0]:.1f} us/call   raw psycopg floor: {ours_pg[1]:.1f} us/call"
              f"   ratio {ours_pg[0] / ours_pg[1]:.2f}x")  # fmt: skip


def bench_get_pg(url: str) -> tuple[float, float]:
    """Return (ours, raw psycopg floor) in microseconds per get+decrypt+json on PostgreSQL."""
    import base64

    import psycopg
    from sqlalchemy.engine import make_url

    ring = Keyring.parse(generate_key_line("k1"))
    tenant = uuid.uuid4()
    store = ConnectionStore(url)
    try:
        names = fill(store, ring, tenant, 2000)
        name = names[1000]
        ours = bench_get(url, ring, tenant, names)
        info = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = psycopg.connect(info, autocommit=True)
        aesgcm = ring._aead[ring.primary_kid]

        def call() -> object:
            row = conn.execute(
                "SELECT id, data FROM connection WHERE tenant_id = %s AND name = %s", (tenant, name)
            ).fetchone()
            assert row is not None
            env = row[1]
            aad = associated_data(tenant, row[0], "oAuth2Api")
            n, ct = base64.urlsafe_b64decode(env["n"]), base64.urlsafe_b64decode(env["ct"])
            return json.loads(aesgcm.decrypt(n, ct, aad))

        floor = median_us(call, n=1000)
        conn.close()
        with store.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM connection")
        return ours, floor
    finally:
        store.dispose()


if __name__ == "__main__":
    main()
