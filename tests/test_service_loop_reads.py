"""Reads on the event loop (``ServiceConfig.loop_reads``): a connection whose token needs no refresh is answered
on the loop thread, a due one in the thread pool (refreshed), both with the same bodies as with loop reads off;
a table locked on PostgreSQL costs the loop one statement timeout, not the lock's duration; the prompt
connection comes back after it failed; and ``fluxnex serve --session-ttl`` sets the connect sessions' lifetime."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConfigurationError
from fluxnex.server import ServiceConfig
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import oauth_data
from service_support import *  # noqa: F403 - the deployment fixture
from service_support import Deployment, LiveService, bearer, create_key, get
from soak_support import PgDatabase

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000c7")
PG_ENV = "FLUXNEX_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def manager(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[CredentialManager]:
    pg = None
    if request.param == "postgresql":
        base = os.environ.get(PG_ENV)
        if not base:
            pytest.skip(f"{PG_ENV} is not set")
        pg = PgDatabase(base)
    url = pg.url if pg else f"sqlite:///{tmp_path / 'loop.db'}"
    mgr = CredentialManager(url, generate_key_line("loop"))
    try:
        yield mgr
    finally:
        mgr.close()
        if pg is not None:
            pg.close()


class Threads:
    """Records the thread each call of a manager method ran on (and what it returned)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, obj: object, *names: str) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        for name in names:
            monkeypatch.setattr(obj, name, self._spy(name, getattr(obj, name)))

    def _spy(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            self.calls.append((name, threading.current_thread().name, result))
            return result

        return spy

    def of(self, name: str) -> list[tuple[str, Any]]:
        return [(thread, result) for n, thread, result in self.calls if n == name]


def _warm(url: str, key: str) -> None:
    """The key's first request records its last use (a write), so it goes to the thread pool: do it first."""
    assert get(url, headers=bearer(key)).status_code == 200


def test_fresh_token_on_the_loop_due_token_in_the_pool(manager: CredentialManager, sandbox_provider: SandboxProvider,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    static = manager.create_connection(TENANT, "revenovaApi", "Static", {"accessToken": "tok-static-value-1"})
    fresh = manager.create_connection(TENANT, "oAuth2Api", "Fresh", oauth_data(sandbox_provider))  # an hour left
    due_data = oauth_data(sandbox_provider, expires_in=3, lifetime=3600)  # 3 s left of an hour: due
    due_tokens = due_data["oauthTokenData"]
    due = manager.create_connection(TENANT, "oAuth2Api", "Due", due_data)
    expected = {c.id: manager.get_connection(TENANT, c.name) for c in (static, fresh)}
    with LiveService(manager, rate_limit=(1000, 60.0), loop_reads=True) as svc:
        key = create_key(manager, "credentials:read", "connections:read")
        base = svc.api(f"/tenants/{TENANT}/connections")
        _warm(f"{base}/{static.id}", key)
        spy = Threads(monkeypatch, manager, "ready_data", "read_row")
        for c in (static, fresh):
            r = get(f"{base}/{c.id}/credentials", headers=bearer(key))
            assert r.status_code == 200 and r.json() == expected[c.id]
            assert r.headers["cache-control"] == "no-store"
            assert get(f"{base}/{c.id}", headers=bearer(key)).json()["name"] == c.name
        assert [t for t, _ in spy.of("ready_data")] == [svc.thread.name] * 2  # on the loop, nothing else
        assert spy.of("read_row") == []

        refreshed = get(f"{base}/{due.id}/credentials", headers=bearer(key))
        assert refreshed.status_code == 200
        token = refreshed.json()["oauthTokenData"]["access_token"]
        assert token != due_tokens["access_token"] and sandbox_provider.is_active(token)
        assert sandbox_provider.token_requests_for(due_tokens["refresh_token"]) == 1
        loop_try, pool_try = spy.of("ready_data")[2:]
        assert loop_try == (svc.thread.name, None)  # due: the loop gave way ...
        assert pool_try[0] != svc.thread.name and pool_try[1] is None  # ... and the pool refreshed it
        assert [t for t, _ in spy.of("read_row")] == [pool_try[0]]


def test_same_answers_and_errors_with_loop_reads_off(manager: CredentialManager) -> None:
    info = manager.create_connection(TENANT, "revenovaApi", "Same", {"accessToken": "tok-same-value-22"})
    other, missing = uuid.uuid4(), uuid.uuid4()
    reader = create_key(manager, "connections:read")
    bound = create_key(manager, "credentials:read", tenant=other)
    full = create_key(manager, "credentials:read")

    def answers(svc: LiveService) -> list[tuple[int, Any]]:
        base = svc.api(f"/tenants/{TENANT}/connections")
        out = []
        for path, key in ((f"/{info.id}/credentials", full), (f"/{info.id}/credentials", reader),
                          (f"/{info.id}/credentials", bound), (f"/{info.id}/credentials", "fnx_wrong"),
                          (f"/{missing}/credentials", full), ("/not-a-uuid/credentials", full),
                          (f"/{info.id}", reader), (f"/{info.id}", full)):
            for _ in range(2):  # the first use of a key takes the pool (it records the use), the second the loop
                r = get(base + path, headers=bearer(key))
                body = r.json()
                body.pop("instance", None)
                out.append((r.status_code, body))
        return out

    with LiveService(manager, rate_limit=(1000, 60.0), loop_reads=True) as on:
        assert on.app.state.service.prompt.is_open
        with_loop = answers(on)
    with LiveService(manager, rate_limit=(1000, 60.0), loop_reads=False) as off:
        assert off.app.state.service.prompt is None
        without = answers(off)
    assert with_loop == without
    assert [code for code, _ in with_loop] == [200, 200, 403, 403, 404, 404, 401, 401, 404, 404, 404, 404,
                                               200, 200, 403, 403]


def test_a_locked_table_costs_the_loop_one_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    pg = PgDatabase(base)
    monkeypatch.setenv("FLUXNEX_PG_LOCK_TIMEOUT_MS", "20000")  # the pool waits for a lock up to 20 s
    manager = CredentialManager(pg.url, generate_key_line("lock"))
    try:
        info = manager.create_connection(TENANT, "revenovaApi", "Locked", {"accessToken": "tok-locked-value-3"})
        expected = manager.get_connection(TENANT, "Locked")
        with LiveService(manager, rate_limit=(1000, 60.0), loop_reads=True, loop_read_timeout=0.05) as svc:
            key = create_key(manager, "credentials:read")
            url = svc.api(f"/tenants/{TENANT}/connections/{info.id}/credentials")
            _warm(url, key)
            waiting = threading.Event()
            real = manager.store.get_by_id

            def get_by_id(connection_id: uuid.UUID) -> Any:
                waiting.set()  # the pool's read, about to wait for the lock
                return real(connection_id)

            monkeypatch.setattr(manager.store, "get_by_id", get_by_id)
            result: list[requests.Response] = []
            import psycopg
            from sqlalchemy.engine import make_url

            dsn = make_url(pg.url).set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(dsn, autocommit=True) as locker:
                locker.execute("BEGIN")
                locker.execute("LOCK TABLE connection IN ACCESS EXCLUSIVE MODE")
                reading = threading.Thread(target=lambda: result.append(get(url, headers=bearer(key))))
                reading.start()
                # the loop's read gives up after 50 ms (without its timeout: the 20 s of the pool's connections)
                assert waiting.wait(3), "the request did not reach the thread pool: the loop waited for the lock"
                # the lock is still held and the request still waits on it, yet the loop answers
                assert requests.get(svc.api("/openapi.json"), timeout=5).status_code == 200
                assert reading.is_alive() and not result
                assert not svc.app.state.service.prompt.is_open  # the failed prompt connection was closed
                locker.execute("COMMIT")
            reading.join(30)
            assert result and result[0].status_code == 200 and result[0].json() == expected
            time.sleep(1.1)  # RETRY_AFTER: then the next request in the pool opens the prompt connection again
            monkeypatch.setattr(manager.store, "get_by_id", real)
            assert get(url, headers=bearer(key)).status_code == 200
            assert svc.app.state.service.prompt.is_open
    finally:
        manager.close()
        pg.close()


def test_the_prompt_connection_comes_back(manager: CredentialManager, monkeypatch: pytest.MonkeyPatch) -> None:
    info = manager.create_connection(TENANT, "revenovaApi", "Back", {"accessToken": "tok-back-value-44"})
    with LiveService(manager, rate_limit=(1000, 60.0), loop_reads=True) as svc:
        key = create_key(manager, "credentials:read")
        url = svc.api(f"/tenants/{TENANT}/connections/{info.id}/credentials")
        _warm(url, key)
        prompt = svc.app.state.service.prompt
        prompt.close()  # as after a failure the retry delay has passed
        spy = Threads(monkeypatch, manager, "read_row", "ready_data")
        assert get(url, headers=bearer(key)).status_code == 200  # closed: the pool answers, and reopens it
        assert prompt.is_open
        assert get(url, headers=bearer(key)).status_code == 200
        pool_thread = spy.of("read_row")[0][0]
        assert pool_thread != svc.thread.name
        assert [t for t, _ in spy.of("ready_data")] == [pool_thread, svc.thread.name]
    manager.store.dispose()  # as manager.close() does: the prompt connection closes with the store
    assert not prompt.is_open


def test_config_checks() -> None:
    with pytest.raises(ConfigurationError, match="loop read timeout"):
        ServiceConfig(loop_read_timeout=0)
    with pytest.raises(ConfigurationError, match="session TTL"):
        ServiceConfig(session_ttl=0)


def test_serve_session_ttl(deployment: Deployment) -> None:
    bad = subprocess.run(["fluxnex", "serve", "--session-ttl", "5"], capture_output=True, text=True,
                         env=deployment.env, timeout=60)
    assert bad.returncode == 2 and "--session-ttl" in bad.stderr and "60<=x<=86400" in bad.stderr
    assert "--session-ttl SECONDS" in subprocess.run(["fluxnex", "serve", "--help"], capture_output=True,
                                                     text=True, check=True, timeout=60).stdout
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = create_key(deployment.manager, "connect:create")
    proc = subprocess.Popen(["fluxnex", "serve", "--port", str(port), "--session-ttl", "120",
                             "--allow-return-url", "http://127.0.0.1:9/app"], env=deployment.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "fluxnex serve did not start"
                time.sleep(0.2)
        before = dt.datetime.now(dt.UTC)
        r = requests.post(url + "/api/v1/connect-sessions", headers=bearer(key), timeout=30,
                          json={"tenant_id": str(TENANT), "type": "revenovaApi", "name": "Ttl",
                                "return_url": "http://127.0.0.1:9/app/done"})
        assert r.status_code == 201, r.text
        lifetime = dt.datetime.fromisoformat(r.json()["expires_at"]) - before
        assert dt.timedelta(seconds=115) < lifetime <= dt.timedelta(seconds=125)
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize(("flags", "loop_reads", "on", "ttl"), [
    ((), True, True, 1800.0),  # the default: on
    (("--no-loop-reads", "--session-ttl", "600"), False, False, 600.0),
    (("--loop-reads",), True, True, 1800.0),
])
def test_serve_flags_reach_the_service(deployment: Deployment, monkeypatch: pytest.MonkeyPatch,
                                       flags: tuple[str, ...], loop_reads: bool, on: bool, ttl: float) -> None:
    import uvicorn
    from click.testing import CliRunner
    from fluxnex.cli.service import serve_command

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    for name in ("FLUXNEX_DATABASE_URL", "FLUXNEX_ENCRYPTION_KEYS"):
        monkeypatch.setenv(name, deployment.env[name])
    result = CliRunner().invoke(serve_command, list(flags), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    service = served[0].state.service
    assert service.config.loop_reads is loop_reads and service.config.session_ttl == ttl
    assert (service.prompt is not None) is on


def test_loop_reads_are_on_by_default(manager: CredentialManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite and on PostgreSQL (whose reads the loop sends without waiting for them)."""
    info = manager.create_connection(TENANT, "revenovaApi", "Default", {"accessToken": "tok-default-value-5"})
    with LiveService(manager, rate_limit=(1000, 60.0)) as svc:
        assert svc.app.state.service.prompt is not None and svc.app.state.service.prompt.is_open
        key = create_key(manager, "credentials:read")
        url = svc.api(f"/tenants/{TENANT}/connections/{info.id}/credentials")
        _warm(url, key)
        expected = manager.get_connection(TENANT, "Default")
        threads = Threads(monkeypatch, manager, "ready_data")
        assert get(url, headers=bearer(key)).json() == expected
        assert [t for t, _ in threads.of("ready_data")] == [svc.thread.name]  # answered on the loop
