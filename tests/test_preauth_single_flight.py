"""A pre-authentication token is fetched exactly once across threads and processes (SQLite and PostgreSQL): when
the field is empty, and again when requests answer 401 (the session forces one re-fetch and retries once)."""

from __future__ import annotations

import uuid

import pytest
from fluxnex.api.manager import CredentialManager
from lifecycle_support import *  # noqa: F403 - fixtures
from preauth_support import THREADS, FakeTokenServer, storm

pytestmark = pytest.mark.usefixtures("catalog")


def test_first_fetch_and_401_refetch_happen_once(db_url: str, keys: str) -> None:
    with FakeTokenServer(latency=0.2) as server:
        mgr = CredentialManager(db_url, keys)
        tenant = uuid.uuid4()
        try:
            mgr.create_connection(tenant, "metabaseApi", "m",
                                  {"url": server.url, "username": "ann", "password": "pw"})
            first = storm(mgr, db_url, keys, tenant, server.url + "/resource", header="X-Metabase-Session")
            assert server.token_calls == 1  # 24 callers, one login
            assert first == ["200:tok-1"] * (3 * THREADS)
            server.revoke()  # the session expired at the provider: every request now answers 401 once
            second = storm(mgr, db_url, keys, tenant, server.url + "/resource", header="X-Metabase-Session")
            assert server.token_calls == 2  # one re-fetch for all of them
            assert second == ["200:tok-2"] * (3 * THREADS)
            assert mgr.get_connection(tenant, "m")["sessionToken"] == "tok-2"
        finally:
            mgr.close()
