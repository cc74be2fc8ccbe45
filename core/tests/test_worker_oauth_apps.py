"""The refresh worker and OAuth apps, on SQLite and PostgreSQL: a claimed batch's apps are read in one query,
each connection is refreshed with the app it inherits (its tenant's, else every tenant's, else its own client),
and an app changed between cycles is used at the next one."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.storage.store import Status
from fluxnex.storage.store._service import ServiceStore
from fluxnex.testing.sandbox import SandboxProvider
from store_fixtures import *  # noqa: F403 - fixtures (manager: each backend, a fresh key)

EVERY, OWN_APP, OWN_CLIENT = (uuid.UUID(f"00000000-0000-4000-8000-00000000000{i}") for i in (1, 2, 3))


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider(expires_in=3600) as provider:
        provider.register_client("app-every", "secret-every")
        provider.register_client("app-tenant", "secret-tenant")
        yield provider


def add(manager: CredentialManager, sandbox: SandboxProvider, tenant: uuid.UUID, name: str, client: str) -> None:
    """A due connection whose refresh token was issued to ``client``; it stores no client of its own unless
    ``client`` is the sandbox's default one (the n8n way: id and secret in the connection)."""
    data = sandbox.oauth2_data()
    if client != "default":
        del data["clientId"], data["clientSecret"]
    issued = sandbox.issue_tokens(**({} if client == "default" else {"client_id": client}))
    token = {**issued, "expires_in": 3600, "expires_at": time.time() + 60}
    manager.create_connection(tenant, "oAuth2Api", name, {**data, "oauthTokenData": token})


def test_a_claimed_batch_reads_its_apps_once_and_each_row_gets_its_own(
    manager: CredentialManager, sandbox: SandboxProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager.oauth_apps.set("oAuth2Api", {"clientId": "app-every", "clientSecret": "secret-every"})
    manager.oauth_apps.set("oAuth2Api", {"clientId": "app-tenant", "clientSecret": "secret-tenant"}, OWN_APP)
    for i in range(6):
        add(manager, sandbox, EVERY, f"every-{i}", "app-every")
        add(manager, sandbox, OWN_APP, f"tenant-{i}", "app-tenant")
        add(manager, sandbox, OWN_CLIENT, f"own-{i}", "default")  # its own client wins over the every-tenant app
    reads: list[tuple[list[str], list[str]]] = []
    claims: list[int] = []
    rows_of, claim_due = ServiceStore.oauth_app_rows, manager.store.claim_due

    def counted_reads(self: ServiceStore, types: list[str], tenants: list[str]) -> list[dict[str, Any]]:
        reads.append((list(types), list(tenants)))
        return rows_of(self, types, tenants)

    def counted_claims(**kwargs: Any) -> Any:
        rows = claim_due(**kwargs)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(ServiceStore, "oauth_app_rows", counted_reads)
    monkeypatch.setattr(manager.store, "claim_due", counted_claims)
    worker = RefreshWorker(manager, concurrency=2, batch_size=4)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.refreshed == 18 and summary.failed == summary.expired == 0, summary
    batches = sum(1 for n in claims if n)
    assert batches >= 4 and len(reads) == batches, (claims, reads)  # one read per claimed batch, none per row
    assert all(types == ["oAuth2Api"] and "" in tenants for types, tenants in reads)
    for r in manager.store.list():
        assert r.status == Status.ACTIVE.value and r.refresh_failures == 0, r.name
        assert "clientSecret" not in manager.decrypt(r) or r.tenant_id == OWN_CLIENT  # inherited, not copied
    assert sandbox.reuse_attempts == 0


def test_an_app_changed_between_cycles_is_used_at_the_next(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    manager.oauth_apps.set("oAuth2Api", {"clientId": "app-every", "clientSecret": "secret-every"})
    add(manager, sandbox, EVERY, "conn", "app-every")
    worker = RefreshWorker(manager, concurrency=2)
    try:
        assert worker.run_once().refreshed == 1
        # the operator rotates the client secret at the provider and in the app; the old one is refused now
        sandbox.register_client("app-every", "secret-rotated")
        manager.oauth_apps.set("oAuth2Api", {"clientId": "app-every", "clientSecret": "secret-rotated"})
        row = manager.store.get(EVERY, "conn")
        assert row is not None
        now = dt.datetime.now(dt.UTC)
        due = {"expires_at": now + dt.timedelta(seconds=60), "refresh_at": now - dt.timedelta(seconds=1)}
        assert manager.store.update_cas(row.id, row.version, **due) is not None
        second = worker.run_once()  # an app read by an earlier cycle would send the refused secret: EXPIRED
    finally:
        worker.close()
    assert second.refreshed == 1 and second.expired == 0, second
    after = manager.store.get(EVERY, "conn")
    assert after is not None and after.status == Status.ACTIVE.value
