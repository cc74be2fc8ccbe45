"""get_connection hot path beside its floor, and create_connection throughput.

Run: ``python3 benchmarks/bench_get_connection.py [--postgres URL]`` (URL defaults to FLUXNEX_TEST_POSTGRES_URL).
Figures: median microseconds per get_connection of a non-expiring OAuth2 connection, beside the floor measured in
the same run (raw driver SELECT by (tenant_id, name) + AES-GCM decrypt + json.loads of the same row), and
create_connection per second on SQLite. Targets: ratio <= 5 (SQLite), <= 2 (PostgreSQL), >= 2,000 creates/s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from _timing import median_us
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import ENVELOPE_VERSION, Keyring, RowBinding, generate_key_line
from sqlalchemy.engine import make_url

DATA: dict[str, Any] = {
    "grantType": "authorizationCode",
    "authUrl": "https://login.example.com/oauth2/authorize",
    "accessTokenUrl": "https://login.example.com/oauth2/token",
    "clientId": "client-" + "c" * 24,
    "clientSecret": "s" * 40,
    "scope": "openid email accounting",
    "authQueryParameters": "",
    "authentication": "header",
    "oauthTokenData": {
        "access_token": "a" * 900,
        "refresh_token": "r" * 60,
        "token_type": "bearer",
        "expires_in": 3600,
        "expires_at": time.time() + 365 * 86400,
    },
}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def floor_fn(fetch: Callable[[], Any], ring: Keyring, aad: bytes) -> Callable[[], object]:
    """SELECT + AES-GCM decrypt + json.loads with no framework in between."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead: AESGCM = ring._aead[ring.primary_kid]  # the same key object the manager uses

    def run() -> object:
        env = fetch()
        if isinstance(env, str):
            env = json.loads(env)
        return json.loads(aead.decrypt(_b64(env["n"]), _b64(env["ct"]), aad))

    return run


def bench(url: str, keys: str, label: str) -> tuple[float, float]:
    mgr = CredentialManager(url, keys)
    tenant = uuid.uuid4()
    info = mgr.create_connection(tenant, "oAuth2Api", "bench", DATA)
    for i in range(200):  # a table that is not trivially small
        mgr.create_connection(tenant, "httpHeaderAuth", f"other-{i}", {"name": "H", "value": "v" * 40})
    aad = RowBinding(tenant, info.id, "oAuth2Api", "bench").aad(ENVELOPE_VERSION)
    assert mgr.get_connection(tenant, "bench")["oauthTokenData"]["access_token"] == "a" * 900
    if label == "sqlite":
        raw = sqlite3.connect(str(make_url(url).database), isolation_level=None)
        sql = "SELECT data FROM connection WHERE tenant_id = ? AND name = ?"
        params: tuple[Any, ...] = (tenant.hex, "bench")
        fetch = lambda: raw.execute(sql, params).fetchone()[0]  # noqa: E731
    else:
        import psycopg

        raw = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False), autocommit=True)
        sql = "SELECT data FROM connection WHERE tenant_id = %s AND name = %s"
        params = (tenant, "bench")
        raw.execute(sql, params, prepare=True)
        fetch = lambda: raw.execute(sql, params, prepare=True).fetchone()[0]  # noqa: E731
    floor = median_us(floor_fn(fetch, mgr.keyring, aad))
    got = median_us(lambda: mgr.get_connection(tenant, "bench"))
    floor = min(floor, median_us(floor_fn(fetch, mgr.keyring, aad)))  # interleaved, best of two
    raw.close()
    mgr.close()
    return got, floor


def bench_creates(url: str, keys: str, n: int = 3000) -> float:
    mgr = CredentialManager(url, keys)
    tenant = uuid.uuid4()
    data = {"name": "X-Key", "value": "v" * 40}
    for i in range(100):
        mgr.create_connection(tenant, "httpHeaderAuth", f"warm-{i}", data)
    start = time.perf_counter()
    for i in range(n):
        mgr.create_connection(tenant, "httpHeaderAuth", f"c-{i}", data)
    took = time.perf_counter() - start
    mgr.close()
    return n / took


def pg_schema(base: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    conninfo = make_url(base).set(drivername="postgresql").render_as_string(False)
    schema = f"bench_{uuid.uuid4().hex}"
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False), drop


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("FLUXNEX_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    keys = generate_key_line("bench")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        got, floor = bench(f"sqlite:///{tmp}/get.db", keys, "sqlite")
        ratio = got / floor
        failed |= ratio > 5
        print(f"sqlite     get_connection {got:7.1f} us   floor {floor:6.1f} us   ratio {ratio:4.2f} (target <= 5)")
        rate = bench_creates(f"sqlite:///{tmp}/create.db", keys)
        failed |= rate < 2000
        print(f"sqlite     create_connection {rate:8.0f} /s (target >= 2000)")
    if args.postgres:
        url, drop = pg_schema(args.postgres)
        try:
            got, floor = bench(url, keys, "postgresql")
        finally:
            drop()
        ratio = got / floor
        failed |= ratio > 2
        print(f"postgresql get_connection {got:7.1f} us   floor {floor:6.1f} us   ratio {ratio:4.2f} (target <= 2)")
    else:
        print("postgresql skipped: set FLUXNEX_TEST_POSTGRES_URL or pass --postgres URL")
    print("targets met" if not failed else "TARGET MISSED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
