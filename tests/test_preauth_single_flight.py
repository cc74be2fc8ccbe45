"""A pre-authentication token is fetched exactly once across threads and processes (SQLite and PostgreSQL): when
the field is empty, and again when requests answer 401 (the session forces one re-fetch and retries once)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.plugins import reset_registry
from fluxnex.testing.n8n_catalog import catalog_path
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import SPAWN
from preauth_support import FakeTokenServer

THREADS = 8


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))  # inherited by the spawned processes
    reset_registry()
    yield
    reset_registry()


def _reader(url: str, key_spec: str, tenant: str, resource: str, start: Any, results: Any) -> None:
    """A process: THREADS threads wait for ``start``, then each GETs ``resource`` through the session."""
    mgr = CredentialManager(url, key_spec)
    out: list[str] = []

    def run() -> None:
        start.wait(30)
        response = mgr.session(tenant, "m").get(resource)
        out.append(f"{response.status_code}:{response.request.headers.get('X-Metabase-Session')}")

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    mgr.close()
    results.put(out)


def _storm(mgr: CredentialManager, url: str, key_spec: str, tenant: uuid.UUID, resource: str) -> list[str]:
    """THREADS threads here and THREADS in each of 2 processes GET ``resource`` at one instant."""
    start, results = SPAWN.Event(), SPAWN.Queue()
    procs = [SPAWN.Process(target=_reader, args=(url, key_spec, str(tenant), resource, start, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    out: list[str] = []
    local = threading.Event()

    def run() -> None:
        local.wait(30)
        response = mgr.session(tenant, "m").get(resource)
        out.append(f"{response.status_code}:{response.request.headers.get('X-Metabase-Session')}")

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    import time

    time.sleep(2.0)  # let the processes import and connect: the race starts together, not when they are ready
    start.set()
    local.set()
    for t in threads:
        t.join(60)
    for _ in procs:
        out.extend(results.get(timeout=60))
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return out


def test_first_fetch_and_401_refetch_happen_once(catalog: None, db_url: str, keys: str) -> None:
    with FakeTokenServer(latency=0.2) as server:
        mgr = CredentialManager(db_url, keys)
        tenant = uuid.uuid4()
        try:
            mgr.create_connection(tenant, "metabaseApi", "m",
                                  {"url": server.url, "username": "ann", "password": "pw"})
            first = _storm(mgr, db_url, keys, tenant, server.url + "/resource")
            assert server.token_calls == 1  # 24 callers, one login
            assert first == ["200:tok-1"] * (3 * THREADS)
            server.revoke()  # the session expired at the provider: every request now answers 401 once
            second = _storm(mgr, db_url, keys, tenant, server.url + "/resource")
            assert server.token_calls == 2  # one re-fetch for all of them
            assert second == ["200:tok-2"] * (3 * THREADS)
            assert mgr.get_connection(tenant, "m")["sessionToken"] == "tok-2"
        finally:
            mgr.close()
