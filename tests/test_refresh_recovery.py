"""Nothing lost: a refreshed token the database cannot take goes to an encrypted local recovery file.

- A worker whose database becomes unavailable right after the provider answered writes the new token to a
  recovery file (0600, encrypted), and on SIGTERM finishes and exits; the next FluxNex process on this host
  with the same database replays the file first, so the token the provider issued is the one stored.
- Replay is compare-and-set: a row that meanwhile holds a newer token keeps it; a row updated otherwise gets
  the recovered token merged in.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle import oauth2
from fluxnex.lifecycle.recovery import recovery_dir
from fluxnex.lifecycle.refresh_write import row_result
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data, pg_conninfo, wait_for
from sqlalchemy.engine import make_url


class HeldLock:
    """PostgreSQL unavailable for writes and reads: ACCESS EXCLUSIVE on the table until ``release()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.taken, self.go = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(pg_conninfo(self.url)) as conn:
            conn.execute("LOCK TABLE connection IN ACCESS EXCLUSIVE MODE")
            self.taken.set()
            self.go.wait(120)
            conn.commit()

    def take(self) -> None:
        self.thread.start()
        assert self.taken.wait(10)

    def release(self) -> None:
        self.go.set()
        self.thread.join(30)


@pytest.mark.slow
def test_sigterm_during_an_outage_leaves_a_recovery_file_that_the_next_process_replays(
    pg_schema_url: str, keys: str, sandbox: SandboxProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FLUXNEX_HOME", str(home))
    options = make_url(pg_schema_url).query["options"]
    worker_url = (
        make_url(pg_schema_url).update_query_dict({"options": f"{options} -clock_timeout=300"})
    ).render_as_string(hide_password=False)
    mgr = CredentialManager(pg_schema_url, keys)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    old = data["oauthTokenData"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    mgr.close()
    sandbox.configure(latency=1.5)
    directory = recovery_dir(pg_schema_url)
    assert directory == recovery_dir(worker_url)  # keyed by the database, not by connection options

    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}
    env.update(FLUXNEX_DATABASE_URL=worker_url, FLUXNEX_ENCRYPTION_KEYS=keys, FLUXNEX_HOME=str(home))
    worker = subprocess.Popen([sys.executable, "-m", "fluxnex", "worker", "--interval", "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lock = HeldLock(pg_schema_url)
    try:
        wait_for(lambda: sandbox.token_requests_for(old["refresh_token"]) == 1, 60, "the worker's token request")
        lock.take()  # the provider answers while the database refuses every statement
        files = wait_for(lambda: list(directory.glob("*.recovery.json")), 30, "the recovery file")
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
        lock.release()
    assert worker.returncode == 0, err
    assert len(files) == 1 and files[0].exists()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600 and stat.S_IMODE(directory.stat().st_mode) == 0o700
    text = files[0].read_text()
    assert "access_token" not in text and old["refresh_token"] not in text and "sandbox-secret" not in text
    assert "recovery file" in err

    nxt = CredentialManager(pg_schema_url, keys)  # the next process: replays before anything else
    try:
        row = nxt.store.get(tenant, "c")
        stored = nxt.decrypt(row)["oauthTokenData"]
        assert stored["refresh_token"] != old["refresh_token"] and sandbox.is_active(stored["refresh_token"])
        assert sandbox.is_active(stored["access_token"])
        assert sandbox.token_requests.get("refresh_token") == 1  # the token the provider issued, not a new one
        assert nxt.pending_recoveries() == [] and not files[0].exists()
        assert row.lease_owner is None and row.version == 2
        assert nxt.get_connection(tenant, "c")["oauthTokenData"]["access_token"] == stored["access_token"]
    finally:
        nxt.close()


def recovered_result(mgr: CredentialManager, sandbox: SandboxProvider, tenant: uuid.UUID) -> tuple[Any, Any]:
    """Refresh at the provider for real, then save the result as a process whose database refused it would."""
    data = oauth_data(sandbox, expires_in=5)
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    row = mgr.store.get(tenant, "c")
    base = mgr.decrypt(row)
    new = oauth2.refresh(base, http=mgr.http)  # the provider has spent the old refresh token now
    path = mgr.refresher.writer.files.save(row.id, row_result(row, base, new).to_payload())
    return data, (new, path)


def test_a_recovery_file_is_replayed_by_the_next_process(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    _data, (new, path) = recovered_result(mgr, sandbox, tenant)
    pending = mgr.pending_recoveries()
    assert [p.path for p in pending] == [path]
    assert pending[0].to_json()["connection_id"] == str(pending[0].connection_id)
    nxt = make_manager()
    stored = nxt.decrypt(nxt.store.get(tenant, "c"))["oauthTokenData"]
    assert stored["access_token"] == new["oauthTokenData"]["access_token"]
    assert not path.exists() and nxt.pending_recoveries() == []


def test_a_recovery_file_is_replayed_before_the_connection_is_refreshed(
    make_manager: Any, sandbox: SandboxProvider
) -> None:
    mgr = make_manager()  # running already: its start-up replay found nothing
    tenant = uuid.uuid4()
    _data, (new, path) = recovered_result(mgr, sandbox, tenant)  # e.g. left by a retrier that gave up
    spent = sandbox.token_requests.get("refresh_token")
    got = mgr.get_connection(tenant, "c")["oauthTokenData"]  # due: but the spent refresh token is not reused
    assert got["access_token"] == new["oauthTokenData"]["access_token"]
    assert sandbox.token_requests.get("refresh_token") == spent and sandbox.is_active(got["refresh_token"])
    assert not path.exists()


def test_a_stale_recovery_never_overwrites_a_newer_token(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    data, (_new, path) = recovered_result(mgr, sandbox, tenant)
    reconnected = sandbox.issue_tokens(expires_in=3600)
    mgr.update_connection(tenant, "c", data={**data, "oauthTokenData": reconnected})  # newer than the file's
    nxt = make_manager()
    stored = nxt.decrypt(nxt.store.get(tenant, "c"))["oauthTokenData"]
    assert stored["access_token"] == reconnected["access_token"]
    assert not path.exists()  # superseded: settled, not replayed again


def test_a_recovery_is_merged_into_an_update_made_meanwhile(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    data, (new, path) = recovered_result(mgr, sandbox, tenant)
    settings = {k: v for k, v in data.items() if k != "oauthTokenData"}
    mgr.update_connection(tenant, "c", data={**settings, "clientSecret": "rotated"})
    nxt = make_manager()
    stored = nxt.decrypt(nxt.store.get(tenant, "c"))
    assert stored["clientSecret"] == "rotated"
    assert stored["oauthTokenData"]["access_token"] == new["oauthTokenData"]["access_token"]
    assert not path.exists()


@pytest.mark.slow
def test_unwritten_tokens_retry_on_daemon_threads_that_close_joins(
    pg_schema_url: str, keys: str, sandbox: SandboxProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUXNEX_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("fluxnex.lifecycle.refresh_write.RETRY_FOR", 1.0)  # the background retries give up after this
    options = make_url(pg_schema_url).query["options"]
    url = make_url(pg_schema_url).update_query_dict({"options": f"{options} -clock_timeout=200"})
    earlier = set(threading.enumerate())  # threads of other managers in this process are not this one's
    mgr = CredentialManager(url.render_as_string(hide_password=False), keys)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=1.0)
    lock = HeldLock(pg_schema_url)
    got: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: got.update(data=mgr.get_connection(tenant, "c")))
    caller.start()
    try:
        wait_for(lambda: sandbox.token_requests_for(data["oauthTokenData"]["refresh_token"]) == 1, 30, "the request")
        lock.take()
        caller.join(30)
        assert got["data"]["oauthTokenData"]["access_token"] != data["oauthTokenData"]["access_token"]
        assert len(mgr.pending_recoveries()) == 1  # on disk before the caller got the token
        background = [t for t in threading.enumerate()
                      if t.name in ("fluxnex-persist", "fluxnex-lease-heartbeat") and t not in earlier]
        assert {t.name for t in background} == {"fluxnex-persist", "fluxnex-lease-heartbeat"}
        assert all(t.daemon for t in background)  # never keeps a process from exiting
        persist = next(t for t in background if t.name == "fluxnex-persist")
        wait_for(lambda: not persist.is_alive(), 30, "the background retries to give up")  # nothing retries forever
        mgr.close()  # the database still refuses: close returns anyway, the file stays
        assert not [t.name for t in background if t.is_alive()]
        assert len(mgr.pending_recoveries()) == 1  # still there for the next process
    finally:
        lock.release()
    nxt = CredentialManager(pg_schema_url, keys)
    try:
        stored = nxt.decrypt(nxt.store.get(tenant, "c"))["oauthTokenData"]
        assert stored["access_token"] == got["data"]["oauthTokenData"]["access_token"]
        assert nxt.pending_recoveries() == []
    finally:
        nxt.close()
