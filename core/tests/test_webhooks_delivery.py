"""Webhook delivery against a real local receiver: signatures (checked with ``standardwebhooks``), retries on a
compressed clock, no double delivery, per-endpoint isolation, the revoked-connection webhook, on both databases."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle.events import RETRY_SCHEDULE, EventDelivery, Webhooks
from fluxnex.lifecycle.events._delivery import JITTER
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.storage.store._webhooks import WebhookStore
from fluxnex.testing.sandbox import SandboxProvider
from fluxnex.testing.webhook_receiver import ReceivedRequest, WebhookReceiver
from standardwebhooks.webhooks import Webhook
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000e2")
UTC = dt.UTC


class Clock:
    """A compressed clock: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def verify(secret: str, request: ReceivedRequest) -> dict:
    """The payload, once ``standardwebhooks`` accepts the signature (raises otherwise)."""
    payload: dict = Webhook(secret).verify(request.body, request.headers)
    return payload


def create(manager: CredentialManager, name: str) -> None:
    manager.create_connection(TENANT, "httpHeaderAuth", name, {"name": "X-Key", "value": "v-" + name})


def test_failing_receiver_gets_every_event_signed_on_schedule_and_never_twice(
    manager: CredentialManager, receiver: WebhookReceiver
) -> None:
    receiver.fail_first = 4  # the first attempt of both events, then their second attempts
    _, secret = Webhooks(manager).add(receiver.url)
    clock = Clock()
    delivery = EventDelivery(manager, clock=clock)
    try:
        create(manager, "a")
        create(manager, "b")
        delivery.drain()
        assert len(receiver.requests) == 2
        rows = WebhookStore(manager.store.engine).delivery_rows()
        lo, hi = RETRY_SCHEDULE[0] * (1 - JITTER), RETRY_SCHEDULE[0] * (1 + JITTER)
        for row in rows:
            wait = (row["next_attempt_at"] - clock()).total_seconds()
            assert row["status"] == "PENDING" and row["attempts"] == 1 and lo <= wait <= hi
        clock.advance(lo - 0.5)
        delivery.drain()
        assert len(receiver.requests) == 2  # not before its time
        clock.advance(hi - lo + 1)
        delivery.drain()
        assert len(receiver.requests) == 4  # second attempts, failed too: next after the schedule's 2nd step
        wait = min((r["next_attempt_at"] - clock()).total_seconds()
                   for r in WebhookStore(manager.store.engine).delivery_rows())  # fmt: skip
        assert RETRY_SCHEDULE[1] * (1 - JITTER) <= wait <= RETRY_SCHEDULE[1] * (1 + JITTER)
        clock.advance(RETRY_SCHEDULE[1] * (1 + JITTER) + 1)
        delivery.drain()
        assert len(receiver.requests) == 6
        clock.advance(86400 * 2)
        delivery.drain()
        assert len(receiver.requests) == 6  # answered 2xx: never sent again
    finally:
        delivery.close()
    by_id: dict[str, list[ReceivedRequest]] = {}
    for request in receiver.requests:
        by_id.setdefault(request.headers["webhook-id"], []).append(request)
    assert len(by_id) == 2 and all(len(attempts) == 3 for attempts in by_id.values())
    names = set()
    for attempts in by_id.values():
        payloads = [verify(secret, r) for r in attempts]
        assert payloads[0] == payloads[1] == payloads[2]  # same message, same id, each attempt signed anew
        assert payloads[0]["type"] == "connection.created"
        names.add(payloads[0]["data"]["name"])
    assert names == {"a", "b"}
    assert {r["status"] for r in WebhookStore(manager.store.engine).delivery_rows()} == {"DELIVERED"}


def test_a_wrong_secret_does_not_verify(manager: CredentialManager, receiver: WebhookReceiver) -> None:
    Webhooks(manager).add(receiver.url)
    _, other = Webhooks(manager).add("http://127.0.0.1:9/elsewhere", ["expired"])
    delivery = EventDelivery(manager)
    try:
        create(manager, "a")
        delivery.drain()
    finally:
        delivery.close()
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        verify(other, receiver.requests[0])


def test_after_the_schedule_a_delivery_is_failed(manager: CredentialManager, receiver: WebhookReceiver) -> None:
    receiver.fail_first = 10**6
    Webhooks(manager).add(receiver.url)
    clock = Clock()
    delivery = EventDelivery(manager, clock=clock)
    try:
        create(manager, "a")
        for _ in range(len(RETRY_SCHEDULE) + 3):
            delivery.drain()
            clock.advance(max(RETRY_SCHEDULE) * (1 + JITTER) + 1)
    finally:
        delivery.close()
    assert len(receiver.requests) == len(RETRY_SCHEDULE) + 1
    (row,) = WebhookStore(manager.store.engine).delivery_rows()
    assert row["status"] == "FAILED" and row["attempts"] == len(RETRY_SCHEDULE) + 1 and row["last_error"] == "HTTP 500"
    failed = WebhookStore(manager.store.engine).list(failed=True)
    assert [e.name for e, counts in failed] == ["a"] and failed[0][1] == {"FAILED": 1}


def test_a_stuck_endpoint_does_not_delay_another(manager: CredentialManager, receiver: WebhookReceiver) -> None:
    with WebhookReceiver() as stuck:
        stuck.hold()
        Webhooks(manager).add(stuck.url)
        _, secret = Webhooks(manager).add(receiver.url)
        delivery = EventDelivery(manager, per_endpoint=2, concurrency=4, timeout=30)
        try:
            for i in range(6):
                create(manager, f"c{i}")
            delivery.start()
            delivery.wake()
            got = receiver.wait_for(6, timeout=20)  # all six while the stuck endpoint holds its two
            assert len(stuck.requests) <= 2
            assert sorted(verify(secret, r)["data"]["name"] for r in got) == [f"c{i}" for i in range(6)]
        finally:
            stuck.release()
            delivery.close()


def test_a_connection_revoked_at_the_provider_sends_a_signed_expired_webhook_within_one_cycle(
    manager: CredentialManager, receiver: WebhookReceiver
) -> None:
    with SandboxProvider(expires_in=3600) as sandbox:
        _, secret = Webhooks(manager).add(receiver.url, ["expired"], tenant=TENANT)
        tokens = {**sandbox.issue_tokens(), "expires_in": 3600, "expires_at": time.time() + 60}
        info = manager.create_connection(TENANT, "oAuth2Api", "crm", {**sandbox.oauth2_data(),
                                                                       "oauthTokenData": tokens})  # fmt: skip
        assert sandbox.revoke(tokens["refresh_token"])
        worker = RefreshWorker(manager, interval=0)
        try:
            summary = worker.run_once()
            assert summary.expired == 1
            (request,) = receiver.wait_for(1, timeout=15)
        finally:
            worker.close()
    payload = verify(secret, request)
    assert payload["type"] == "connection.expired"
    assert payload["data"]["id"] == str(info.id) and payload["data"]["status"] == "EXPIRED"
    assert payload["data"]["tenant_id"] == str(TENANT) and payload["data"]["name"] == "crm"
    assert "invalid_grant" in (payload["data"]["error"] or "")
    assert tokens["refresh_token"] not in request.body.decode()


def test_the_connection_event_hook_sees_every_event_before_its_webhooks(
    manager: CredentialManager, receiver: WebhookReceiver
) -> None:
    from fluxnex import hookimpl

    seen: list[str] = []

    class Listener:
        @hookimpl
        def connection_event(self, event: object) -> None:
            seen.append(f"{event.type}:{event.name}")  # type: ignore[attr-defined]

    class Broken:
        @hookimpl
        def connection_event(self, event: object) -> None:
            raise RuntimeError("a listener's bug")

    pm = manager.registry.plugin_manager
    listener, broken = Listener(), Broken()
    pm.register(broken, name="broken-listener")
    pm.register(listener, name="test-listener")
    Webhooks(manager).add(receiver.url)
    delivery = EventDelivery(manager)
    try:
        create(manager, "a")
        manager.delete_connection(TENANT, "a")
        delivery.drain()
    finally:
        delivery.close()
        pm.unregister(listener)
        pm.unregister(broken)
    assert seen == ["connection.created:a", "connection.deleted:a"]
    assert len(receiver.requests) == 2


def test_the_plugin_authoring_example_forwards_expired_connections(
    manager: CredentialManager, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "slack_events.py"
    spec = importlib.util.spec_from_file_location("slack_events_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", receiver.url)
    pm = manager.registry.plugin_manager
    pm.register(example, name="slack-events-example")
    delivery = EventDelivery(manager)
    try:
        create(manager, "crm")
        row = manager.store.get(TENANT, "crm")
        assert row is not None
        manager.store.update_cas(row.id, row.version, status="EXPIRED", last_error="invalid_grant: revoked")
        delivery.dispatch()  # no webhook endpoint: the hook alone
    finally:
        delivery.close()
        pm.unregister(example)
    (request,) = receiver.requests  # created is not forwarded, expired is
    text = json.loads(request.body)["text"]
    assert text.startswith("connection.expired: 'crm' (httpHeaderAuth") and "invalid_grant: revoked" in text


def test_two_workers_share_the_deliveries_and_send_each_once(
    manager: CredentialManager, receiver: WebhookReceiver
) -> None:
    receiver.delay = 0.02
    _, secret = Webhooks(manager).add(receiver.url)
    for i in range(30):
        create(manager, f"c{i}")
    first = EventDelivery(manager, owner="worker-a", per_endpoint=4, poll=0.05)
    second = EventDelivery(manager, owner="worker-b", per_endpoint=4, poll=0.05)
    try:
        first.start()
        second.start()
        receiver.wait_for(30, timeout=60)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            r["status"] == "DELIVERED" for r in WebhookStore(manager.store.engine).delivery_rows()
        ):
            time.sleep(0.05)
    finally:
        first.close()
        second.close()
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 30  # every event once: claims are exclusive
    assert sorted(verify(secret, r)["data"]["name"] for r in receiver.requests) == sorted(f"c{i}" for i in range(30))
    rows = WebhookStore(manager.store.engine).delivery_rows()
    assert len(rows) == 30 and {r["status"] for r in rows} == {"DELIVERED"}


def test_a_dispatcher_that_died_holding_events_is_taken_over_and_the_hook_sees_them_again(
    manager: CredentialManager, receiver: WebhookReceiver
) -> None:
    from fluxnex import hookimpl

    seen: list[str] = []

    class Listener:
        @hookimpl
        def connection_event(self, event: object) -> None:
            seen.append(str(event.id))  # type: ignore[attr-defined]

    Webhooks(manager).add(receiver.url)
    create(manager, "a")
    clock = Clock()
    store = WebhookStore(manager.store.engine)
    (claimed,) = store.claim_events("dead-dispatcher", 30, 10, clock())  # it called the hook, then was killed
    pm = manager.registry.plugin_manager
    listener = Listener()
    pm.register(listener, name="takeover-listener")
    delivery = EventDelivery(manager, clock=clock)
    try:
        delivery.drain()
        assert seen == [] and receiver.requests == []  # its lease still runs
        clock.advance(31)
        delivery.drain()
    finally:
        delivery.close()
        pm.unregister(listener)
    assert seen == [str(claimed.id)]
    (request,) = receiver.requests
    assert request.headers["webhook-id"] == claimed.webhook_id
