"""The outbox: every state change writes its event in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConnectionExpired, RefreshError
from fluxnex.lifecycle.events import EventDelivery, Webhooks
from fluxnex.storage.store import Status
from fluxnex.storage.store._outbox import event_table
from fluxnex.storage.store._webhooks import WebhookStore
from fluxnex.testing.sandbox import SandboxProvider
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
SECRET_VALUE = "s3cr3t-header-value-9f2c"


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider(expires_in=3600, retry_after=1) as provider:
        yield provider


def events(manager: CredentialManager) -> list[tuple[str, str, str]]:
    """(type, name, status) of every event, oldest first."""
    return [(e.type, e.name, e.status) for e, _ in reversed(WebhookStore(manager.store.engine).list(limit=1000))]


def add_oauth(manager: CredentialManager, sandbox: SandboxProvider, name: str, expires_in: float = 30) -> dict:
    tokens = {**sandbox.issue_tokens(expires_in=3600), "expires_in": 3600, "expires_at": time.time() + expires_in}
    manager.create_connection(TENANT, "oAuth2Api", name, {**sandbox.oauth2_data(), "oauthTokenData": tokens})
    return tokens


def test_user_changes_write_created_updated_reconnected_deleted(manager: CredentialManager,
                                                               sandbox: SandboxProvider) -> None:
    manager.create_connection(TENANT, "httpHeaderAuth", "h", {"name": "X-Key", "value": SECRET_VALUE})
    manager.update_connection(TENANT, "h", new_name="h2")
    manager.update_connection(TENANT, "h2", data={"name": "X-Key", "value": SECRET_VALUE + "2"})
    add_oauth(manager, sandbox, "o")
    manager.update_connection(TENANT, "o", data={**sandbox.oauth2_data(), "oauthTokenData": sandbox.issue_tokens()})
    manager.delete_connection(TENANT, "h2")
    assert events(manager) == [
        ("connection.created", "h", "ACTIVE"),
        ("connection.updated", "h2", "ACTIVE"),
        ("connection.updated", "h2", "ACTIVE"),
        ("connection.created", "o", "ACTIVE"),
        ("connection.reconnected", "o", "ACTIVE"),
        ("connection.deleted", "h2", "ACTIVE"),
    ]


def test_refresh_outcomes_write_failed_recovered_expired(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    add_oauth(manager, sandbox, "o", expires_in=-5)  # lapsed: a transient failure sets ERROR
    sandbox.fail_next("500")
    with pytest.raises(RefreshError):  # the token has lapsed: the failure reaches the caller
        manager.refresh_connection(TENANT, "o")
    manager.refresh_connection(TENANT, "o")  # succeeds: ERROR -> ACTIVE
    sandbox.fail_next("invalid_grant")
    with pytest.raises(ConnectionExpired):
        manager.refresh_connection(TENANT, "o")
    got = [(t, s) for t, _, s in events(manager)]
    assert got == [
        ("connection.created", "ACTIVE"),
        ("connection.refresh_failed", "ERROR"),
        ("connection.recovered", "ACTIVE"),
        ("connection.expired", "EXPIRED"),
    ]
    failed = next(e for e, _ in WebhookStore(manager.store.engine).list() if e.type == "connection.refresh_failed")
    assert failed.data()["attempts"] == 1 and failed.error


def test_refreshed_is_written_only_while_an_endpoint_subscribes(manager: CredentialManager,
                                                                sandbox: SandboxProvider) -> None:
    add_oauth(manager, sandbox, "o")
    manager.refresh_connection(TENANT, "o")
    assert [t for t, _, _ in events(manager)] == ["connection.created"]
    other_tenant = uuid.uuid4()
    Webhooks(manager).add("http://127.0.0.1:9/hook", ["refreshed"], tenant=other_tenant)
    manager.refresh_connection(TENANT, "o")
    assert [t for t, _, _ in events(manager)] == ["connection.created"]  # another tenant's subscription
    Webhooks(manager).add("http://127.0.0.1:9/hook", ["refreshed", "expired"])
    manager.refresh_connection(TENANT, "o")
    assert [t for t, _, _ in events(manager)] == ["connection.created", "connection.refreshed"]


def test_a_rolled_back_change_writes_no_event(manager: CredentialManager) -> None:
    manager.create_connection(TENANT, "httpHeaderAuth", "h", {"name": "X-Key", "value": SECRET_VALUE})
    row = manager.store.get(TENANT, "h")
    assert row is not None
    engine = manager.store.engine
    with pytest.raises(RuntimeError), engine.connect() as conn, conn.begin():
        conn.execute(sa.text("UPDATE connection SET status = 'EXPIRED', refresh_failures = 3"))
        assert conn.execute(sa.select(sa.func.count()).select_from(event_table)).scalar_one() == 2  # inside: yes
        raise RuntimeError("the refresh write fails after its UPDATE")
    assert [t for t, _, _ in events(manager)] == ["connection.created"]
    # a refresh write that loses its compare-and-set changes nothing and emits nothing
    assert manager.store.write_refresh(row.id, row.version + 5, status=Status.EXPIRED.value) is None
    assert [t for t, _, _ in events(manager)] == ["connection.created"]


def test_payloads_never_carry_a_secret(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    manager.create_connection(TENANT, "httpHeaderAuth", "h", {"name": "X-Key", "value": SECRET_VALUE})
    manager.update_connection(TENANT, "h", data={"name": "X-Key", "value": SECRET_VALUE + "2"})
    tokens = add_oauth(manager, sandbox, "o", expires_in=-5)
    Webhooks(manager).add("http://127.0.0.1:9/hook", ["refreshed", "expired", "refresh_failed", "recovered"])
    sandbox.fail_next("500")
    with pytest.raises(RefreshError):
        manager.refresh_connection(TENANT, "o")
    fresh = manager.refresh_connection(TENANT, "o")
    sandbox.fail_next("invalid_grant")
    with pytest.raises(ConnectionExpired):
        manager.refresh_connection(TENANT, "o")
    manager.delete_connection(TENANT, "h")
    secrets = [SECRET_VALUE, tokens["access_token"], tokens["refresh_token"],
               fresh["oauthTokenData"]["access_token"], sandbox.oauth2_data()["clientSecret"]]  # fmt: skip
    listed = WebhookStore(manager.store.engine).list(limit=1000)
    assert len(listed) >= 8
    with manager.store.engine.connect() as conn:
        raw = json.dumps([list(map(str, r)) for r in conn.execute(sa.select(event_table))])
    for event, _ in listed:
        body = event.body().decode()
        assert set(event.data()) <= {"id", "tenant_id", "type", "name", "status", "error", "attempts"}
        for secret in secrets:
            assert secret not in body and secret not in repr(event) and secret not in raw


def test_reconnect_soon_once_per_connection_and_refresh_token(manager: CredentialManager,
                                                              sandbox: SandboxProvider) -> None:
    soon = time.time() + 3 * 86400
    for name, lapses in (("soon", soon), ("later", time.time() + 60 * 86400)):
        tokens = {**sandbox.issue_tokens(), "expires_in": 3600, "refresh_token_expires_at": lapses}
        manager.create_connection(TENANT, "oAuth2Api", name, {**sandbox.oauth2_data(), "oauthTokenData": tokens})
    delivery = EventDelivery(manager)
    assert delivery.sweep(force=True) == 1
    assert delivery.sweep(force=True) == 0  # once per window
    assert [(t, n) for t, n, _ in events(manager) if t.endswith("reconnect_soon")] == [
        ("connection.reconnect_soon", "soon")
    ]
    new = {**sandbox.issue_tokens(), "expires_in": 3600, "refresh_token_expires_at": soon + 3600}
    manager.update_connection(TENANT, "soon", data={**sandbox.oauth2_data(), "oauthTokenData": new})
    assert delivery.sweep(force=True) == 1  # a new refresh token opens a new window
    manager.delete_connection(TENANT, "soon")  # its warning row goes with it
    assert delivery.sweep(force=True) == 0
    with manager.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM reconnect_warning")).scalar_one() == 0


def test_old_settled_events_are_pruned(manager: CredentialManager) -> None:
    manager.create_connection(TENANT, "httpHeaderAuth", "h", {"name": "X-Key", "value": SECRET_VALUE})
    delivery = EventDelivery(manager, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=8))
    delivery.dispatch()
    delivery.sweep(force=True)
    assert events(manager) == []
