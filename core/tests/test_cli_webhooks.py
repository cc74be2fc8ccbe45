"""`fluxnex webhooks` and `fluxnex events` (click's runner), and `fluxnex worker` as a real process on both
databases: it delivers signed webhooks, serves /metrics and /healthz, logs JSON, and a kill -9 loses nothing."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fluxnex.cli import cli
from fluxnex.testing.webhook_receiver import WebhookReceiver
from standardwebhooks.webhooks import Webhook
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = str(uuid.UUID("00000000-0000-4000-8000-0000000000e3"))
SECRET = "hdr-" + uuid.uuid4().hex


@pytest.fixture
def env(store_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    values = {"FLUXNEX_DATABASE_URL": store_url, "FLUXNEX_ENCRYPTION_KEYS": f"k1:{key}"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def add_connection(name: str) -> None:
    code, _, err = run("connections", "add", "--tenant", TENANT, "--type", "httpHeaderAuth", "--name", name,
                       "--data", "-", input=json.dumps({"name": "X-Key", "value": SECRET}))  # fmt: skip
    assert code == 0, err


def worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["fluxnex", "worker", *args], env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_add_list_remove_and_bad_input(env: dict[str, str]) -> None:
    code, out, err = run("webhooks", "add", "https://example.test/hook?token=abc", "--events", "expired,refresh_failed",
                         "--tenant", TENANT, "--json")  # fmt: skip
    assert code == 0, err
    added = json.loads(out)
    assert set(added) == {"id", "secret"} and added["secret"].startswith("whsec_")
    code, out, _ = run("webhooks", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["id"] == added["id"] and listed["events"] == ["connection.expired", "connection.refresh_failed"]
    assert added["secret"] not in out and "token=abc" not in out and listed["tenant"] == TENANT
    code, out, _ = run("webhooks", "list")
    assert added["secret"] not in out and "?[redacted]" in out
    code, _, err = run("webhooks", "add", "ftp://example.test/x")
    assert code == 1 and "absolute http(s) URL" in err and err.count("\n") == 1
    code, _, err = run("webhooks", "add", "https://u:p@example.test/x")
    assert code == 1 and "user name or password" in err
    code, _, err = run("webhooks", "add", "https://example.test/x", "--events", "exploded")
    assert code == 1 and "unknown event type 'exploded'" in err
    code, _, err = run("webhooks", "remove", str(uuid.uuid4()))
    assert code == 1 and "see `fluxnex webhooks list`" in err
    code, out, _ = run("webhooks", "list", "--json")  # the command the error suggests
    assert code == 0 and len(json.loads(out)) == 1
    code, out, _ = run("webhooks", "remove", added["id"])
    assert code == 0 and added["id"] in out
    code, out, _ = run("webhooks", "list", "--json")
    assert json.loads(out) == []


def test_worker_delivers_signed_webhooks_and_events_can_be_listed_and_replayed(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    code, out, _ = run("webhooks", "add", receiver.url, "--json")
    secret = json.loads(out)["secret"]
    add_connection("a")
    code, out, _ = run("events", "list", "--json")
    (event,) = json.loads(out)
    assert event["type"] == "connection.created" and event["deliveries"] == {} and not event["dispatched"]
    assert SECRET not in out
    proc = worker(env, "--once")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (request,) = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["data"]["name"] == "a" and request.headers["webhook-id"] == event["webhook_id"]
    code, out, _ = run("events", "list", "--json")
    assert json.loads(out)[0]["deliveries"] == {"DELIVERED": 1}
    code, out, _ = run("events", "replay", event["webhook_id"])
    assert code == 0 and "for 1 endpoint(s)" in out and "`fluxnex worker` delivers it" in out
    proc = worker(env, "--once")  # what the replay message says
    proc.communicate(timeout=60)
    assert len(receiver.requests) == 2 and receiver.requests[1].headers["webhook-id"] == event["webhook_id"]
    code, _, err = run("events", "replay", str(uuid.uuid4()))
    assert code == 1 and "see `fluxnex events list`" in err
    code, out, _ = run("events", "list")  # the command that error suggests
    assert code == 0 and "connection.created" in out and "delivered=1" in out  # the replay re-sent the same delivery


def test_failed_deliveries_are_listed(env: dict[str, str]) -> None:
    import datetime as dt

    from fluxnex.api.manager import CredentialManager
    from fluxnex.lifecycle.events import RETRY_SCHEDULE, EventDelivery

    run("webhooks", "add", "http://127.0.0.1:9/nobody-listens")
    add_connection("a")
    now = [dt.datetime.now(dt.UTC)]
    mgr = CredentialManager()
    delivery = EventDelivery(mgr, clock=lambda: now[0], timeout=2)
    try:  # the whole schedule on a compressed clock: a day of refused connections
        for _ in range(len(RETRY_SCHEDULE) + 1):
            delivery.drain()
            now[0] += dt.timedelta(days=1)
    finally:
        delivery.close()
        mgr.close()
    _, out, _ = run("events", "list", "--failed", "--json")
    (failed,) = json.loads(out)
    assert failed["deliveries"] == {"FAILED": 1} and failed["connection"]["name"] == "a"
    _, out, _ = run("events", "list", "--failed")
    assert "failed=1" in out and "connection.created" in out


def scrape(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_metrics_health_and_json_logs(env: dict[str, str], receiver: WebhookReceiver) -> None:
    from fluxnex.lifecycle.observability import METRIC_NAMES

    run("webhooks", "add", receiver.url)
    add_connection("a")
    port = free_port()
    proc = worker(env, "--interval", "0.2", "--metrics-port", str(port), "--log-format", "json")
    try:
        receiver.wait_for(1, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            status, text = scrape(port, "/metrics")
            if 'fluxnex_webhook_deliveries_total{outcome="delivered"} 1.0' in text or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 200
        families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
        exposed = set(METRIC_NAMES)
        assert exposed <= families, exposed - families
        assert 'fluxnex_connections{status="ACTIVE"} 1.0' in text
        assert 'fluxnex_webhook_deliveries_total{outcome="delivered"} 1.0' in text
        assert "fluxnex_db_pool_size" in text and "fluxnex_worker_cycles_total" in text
        status, body = scrape(port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert scrape(port, "/nope")[0] == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    cycles = [line for line in lines if line["message"].startswith("cycle ")]
    assert cycles and "claimed" in cycles[0] and isinstance(cycles[0]["claimed"], int)
    assert SECRET not in err


def test_kill_9_mid_delivery_loses_nothing_and_keeps_the_webhook_id(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    _, out, _ = run("webhooks", "add", receiver.url, "--json")
    secret = json.loads(out)["secret"]
    add_connection("a")  # committed: its event is in the outbox before any worker runs
    receiver.hold()  # the first request is received, never answered
    first = worker(env, "--interval", "0.2", "--webhook-timeout", "1")
    try:
        receiver.wait_for(1, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    receiver.release()
    second = worker(env, "--interval", "0.2", "--webhook-timeout", "1")
    try:
        requests = receiver.wait_for(2, timeout=60)  # after the dead worker's lease lapsed (timeout + 5 s)
        time.sleep(0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]
    assert Webhook(secret).verify(requests[1].body, requests[1].headers)["data"]["name"] == "a"
    _, out, _ = run("events", "list", "--json")
    assert json.loads(out)[0]["deliveries"] == {"DELIVERED": 1}
    assert len(receiver.requests) == 2  # answered 2xx once: not sent again


def test_keys_rotate_reencrypts_webhook_secrets(env: dict[str, str], receiver: WebhookReceiver,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from fluxnex.api.manager import CredentialManager
    from fluxnex.lifecycle.events import EventDelivery, Webhooks

    _, out, _ = run("webhooks", "add", receiver.url, "--json")
    secret = json.loads(out)["secret"]
    add_connection("a")
    new_key = "k2:" + base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", f"{new_key},{env['FLUXNEX_ENCRYPTION_KEYS']}")
    code, out, err = run("keys", "rotate", "--json")
    assert code == 0, err
    assert json.loads(out)["webhook_secrets"] == 1
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", new_key)  # the old key is gone
    mgr = CredentialManager()
    try:
        (endpoint,) = Webhooks(mgr).list()
        assert endpoint.secret["kid"] == "k2"
        delivery = EventDelivery(mgr)
        try:
            delivery.drain()
        finally:
            delivery.close()
    finally:
        mgr.close()
    (request,) = receiver.requests
    assert Webhook(secret).verify(request.body, request.headers)["data"]["name"] == "a"
