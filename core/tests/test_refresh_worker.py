"""Tests of RefreshWorker on SQLite and PostgreSQL against the sandbox OAuth2 provider (real HTTP, real databases)."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import FluxnexError
from fluxnex.lifecycle.refresher import CycleSummary, RefreshWorker
from fluxnex.storage.crypto import Keyring, associated_data, generate_key_line
from fluxnex.storage.store import ConnectionRow, Status
from fluxnex.testing.sandbox import DEFAULT_CLIENT_SECRET, SandboxProvider
from store_fixtures import *  # noqa: F403 - fixtures

UTC = dt.UTC
TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def new_keys() -> str:
    return "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider(expires_in=3600, retry_after=45) as provider:
        yield provider


@pytest.fixture
def manager(store_url: str) -> Iterator[CredentialManager]:
    mgr = CredentialManager(database_url=store_url, encryption_keys=new_keys())
    try:
        yield mgr
    finally:
        mgr.close()


def add(manager: CredentialManager, sandbox: SandboxProvider, name: str, expires_in: int) -> tuple[uuid.UUID, str]:
    """Create a connection whose access token expires in ``expires_in`` seconds; return its id and refresh token.

    The token is one of an hour's lifetime issued earlier, so it is due once ``expires_in`` is inside the horizon.
    """
    tokens = {**sandbox.issue_tokens(expires_in=expires_in), "expires_in": 3600, "expires_at": time.time() + expires_in}
    info = manager.create_connection(TENANT, "oAuth2Api", name, {**sandbox.oauth2_data(), "oauthTokenData": tokens})
    return info.id, tokens["refresh_token"]


def row(manager: CredentialManager, connection_id: uuid.UUID) -> ConnectionRow:
    got = manager.store.get_by_id(connection_id)
    assert got is not None
    return got


def set_columns(manager: CredentialManager, connection_id: uuid.UUID, **changes: object) -> None:
    current = row(manager, connection_id)
    assert manager.store.update_cas(connection_id, current.version, **changes) is not None


def no_lease_held(manager: CredentialManager) -> bool:
    return all(r.lease_owner is None and r.lease_until is None for r in manager.store.list())


def test_run_once_refreshes_exactly_the_due_connections(
    manager: CredentialManager, sandbox: SandboxProvider, caplog: pytest.LogCaptureFixture
) -> None:
    due = {f"due-{i}": add(manager, sandbox, f"due-{i}", 120) for i in range(3)}
    later = {f"later-{i}": add(manager, sandbox, f"later-{i}", 3000) for i in range(2)}
    gone_id, gone_token = add(manager, sandbox, "gone", 60)
    set_columns(manager, gone_id, status=Status.EXPIRED.value, last_error="invalid_grant")
    lapsed_id, lapsed_token = add(manager, sandbox, "lapsed", -30)  # lapsed after failures: ERROR, still due
    set_columns(manager, lapsed_id, status=Status.ERROR.value, refresh_failures=2, last_error="HTTP 500")
    due["lapsed"] = (lapsed_id, lapsed_token)
    before = {name: row(manager, cid) for name, (cid, _) in {**due, **later}.items()}

    caplog.set_level(logging.INFO, logger="fluxnex")
    start = time.time()
    summary = RefreshWorker(manager, horizon=600, concurrency=4).run_once()

    assert (summary.claimed, summary.refreshed, summary.failed, summary.expired) == (4, 4, 0, 0)
    for name, (cid, token) in due.items():
        assert sandbox.token_requests_for(token) == 1, name
        after = row(manager, cid)
        old_expiry = before[name].expires_at
        assert after.expires_at is not None and old_expiry is not None
        assert after.expires_at > old_expiry
        assert after.expires_at.timestamp() >= start + 3600 - 5
        assert (after.status, after.refresh_failures, after.last_error) == (Status.ACTIVE, 0, None)
        assert after.last_refreshed_at is not None
    for name, (cid, token) in later.items():
        assert sandbox.token_requests_for(token) == 0
        assert row(manager, cid).version == before[name].version
    assert sandbox.token_requests_for(gone_token) == 0
    assert row(manager, gone_id).status == Status.EXPIRED
    assert no_lease_held(manager)
    # fresh tokens reach the callers
    assert manager.get_connection(TENANT, "due-0")["oauthTokenData"]["refresh_token"] != due["due-0"][1]

    # one log line per refresh (id, type, outcome, duration) and one per cycle, none with a secret in it
    refresh_lines = [r.getMessage() for r in caplog.records if r.name == "fluxnex.refresh"]
    assert len(refresh_lines) == 4
    for cid, _ in due.values():
        line = next(m for m in refresh_lines if str(cid) in m)
        assert "type=oAuth2Api" in line and "outcome=ok" in line and "duration_ms=" in line
    cycle_lines = [r.getMessage() for r in caplog.records if r.name == "fluxnex.worker"]
    assert any("claimed=4 refreshed=4 failed=0 expired=0" in m for m in cycle_lines)
    secrets = {DEFAULT_CLIENT_SECRET, *(t for _, t in due.values())}
    secrets |= {v for d in (manager.get_connection(TENANT, n) for n in due) for v in d["oauthTokenData"].values()
                if isinstance(v, str)}  # fmt: skip
    assert not any(s in r.getMessage() for r in caplog.records for s in secrets if len(s) > 8)

    again = RefreshWorker(manager, horizon=600).run_once()
    assert (again.claimed, again.refreshed) == (0, 0)
    assert sum(sandbox.token_requests_for(t) for _, t in due.values()) == 4


@pytest.mark.parametrize("mode", ["500", "429"])
def test_transient_failure_backs_off_and_a_later_success_resets(
    manager: CredentialManager, sandbox: SandboxProvider, mode: str
) -> None:
    valid_id, valid_token = add(manager, sandbox, "valid", 120)
    lapsed_id, lapsed_token = add(manager, sandbox, "lapsed", -10)
    sandbox.fail_always(mode)
    worker = RefreshWorker(manager, concurrency=2)

    now = time.time()
    summary = worker.run_once()
    assert (summary.claimed, summary.refreshed, summary.failed, summary.expired) == (2, 0, 2, 0)
    valid, lapsed = row(manager, valid_id), row(manager, lapsed_id)
    assert valid.status == Status.ACTIVE  # the access token still works
    assert lapsed.status == Status.ERROR  # it does not
    for r in (valid, lapsed):
        assert r.refresh_failures == 1
        assert r.last_error and DEFAULT_CLIENT_SECRET not in r.last_error
        assert r.next_attempt_at is not None
        wait = r.next_attempt_at.timestamp() - now
        if mode == "429":
            assert 44 <= wait <= 47  # Retry-After: 45 beats the 15-30 s first backoff
        else:
            assert 14 <= wait <= 32
    assert no_lease_held(manager)

    # the backoff is honoured: nothing is claimed until next_attempt_at
    assert worker.run_once().claimed == 0
    assert sandbox.token_requests_for(valid_token) == sandbox.token_requests_for(lapsed_token) == 1

    sandbox.clear_failures()
    for cid in (valid_id, lapsed_id):  # time passes
        set_columns(manager, cid, next_attempt_at=dt.datetime.now(UTC) - dt.timedelta(seconds=1))
    summary = worker.run_once()
    assert (summary.claimed, summary.refreshed, summary.failed) == (2, 2, 0)
    for cid in (valid_id, lapsed_id):
        r = row(manager, cid)
        assert (r.status, r.refresh_failures, r.last_error, r.next_attempt_at) == (Status.ACTIVE, 0, None, None)
    assert sandbox.token_requests_for(valid_token) == sandbox.token_requests_for(lapsed_token) == 2


@pytest.mark.parametrize("how", ["revoked", "fail_mode"])
def test_invalid_grant_marks_expired(manager: CredentialManager, sandbox: SandboxProvider, how: str) -> None:
    cid, token = add(manager, sandbox, "revoked", 120)
    if how == "revoked":
        assert sandbox.revoke(token)
    else:
        sandbox.fail_next("invalid_grant")
    worker = RefreshWorker(manager)
    summary = worker.run_once()
    assert (summary.claimed, summary.refreshed, summary.failed, summary.expired) == (1, 0, 0, 1)
    r = row(manager, cid)
    assert r.status == Status.EXPIRED and r.last_error and "invalid_grant" in r.last_error
    assert r.lease_owner is None
    assert worker.run_once().claimed == 0
    assert sandbox.token_requests_for(token) == 1


def test_unexpected_error_is_recorded_with_backoff(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    cid, token = add(manager, sandbox, "foreign-key", 120)
    good_id, _ = add(manager, sandbox, "good", 120)
    current = row(manager, cid)
    foreign = Keyring.parse(generate_key_line("other")).encrypt(b"{}", associated_data(TENANT, cid, "oAuth2Api"))
    assert manager.store.update_cas(cid, current.version, data=foreign) is not None

    worker = RefreshWorker(manager)
    summary = worker.run_once()
    assert (summary.claimed, summary.refreshed, summary.failed) == (2, 1, 1)
    r = row(manager, cid)
    assert r.refresh_failures == 1 and r.next_attempt_at is not None
    assert r.last_error and r.last_error.startswith("DecryptionError")
    assert r.status == Status.ACTIVE and r.lease_owner is None
    assert sandbox.token_requests_for(token) == 0
    assert row(manager, good_id).refresh_failures == 0
    assert worker.run_once().claimed == 0  # not retried every cycle


def test_claims_in_batches_until_nothing_due(manager: CredentialManager, sandbox: SandboxProvider) -> None:
    tokens = [add(manager, sandbox, f"c{i}", 120)[1] for i in range(23)]
    summary = RefreshWorker(manager, concurrency=3, batch_size=4).run_once()
    assert (summary.claimed, summary.refreshed) == (23, 23)
    assert [sandbox.token_requests_for(t) for t in tokens] == [1] * 23


def test_tokens_shorter_than_the_horizon_are_refreshed_once_per_cycle(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    sandbox.configure(expires_in=60)  # every new token is due again at once with a 600 s horizon
    tokens = [add(manager, sandbox, f"c{i}", 60)[1] for i in range(5)]
    summary = RefreshWorker(manager, concurrency=2, batch_size=2).run_once()
    assert (summary.claimed, summary.refreshed) == (5, 5)
    assert sandbox.token_requests.get("refresh_token") == 5
    assert [sandbox.token_requests_for(t) for t in tokens] == [1] * 5
    assert no_lease_held(manager)


def test_stop_finishes_running_refreshes_and_releases_the_rest(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    for i in range(6):
        add(manager, sandbox, f"c{i}", 120)
    sandbox.configure(latency=0.5)
    worker = RefreshWorker(manager, concurrency=1)
    result: list[CycleSummary] = []
    thread = threading.Thread(target=lambda: result.append(worker.run_once()))
    thread.start()
    deadline = time.monotonic() + 10
    while not sandbox.token_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    (summary,) = result
    assert summary.refreshed >= 1 and summary.released >= 1
    assert summary.claimed == summary.refreshed + summary.released
    assert sandbox.token_requests.get("refresh_token") == summary.refreshed
    assert no_lease_held(manager)
    assert worker.run_once().claimed == 0  # a stopped worker claims nothing
    assert RefreshWorker(manager).run_once().refreshed == 6 - summary.refreshed  # the rest is still due


def test_stop_from_a_signal_handler_that_interrupted_the_pause_does_not_wait_for_itself(
    manager: CredentialManager,
) -> None:
    """A signal can land while the main thread is inside ``Event.wait``, holding the event's lock (the CLI's
    SIGTERM/SIGINT handler then calls ``stop()`` on that thread): stop must return, and the pause must end."""
    worker = RefreshWorker(manager)
    interrupted = threading.Thread(target=lambda: _stop_holding_the_event_lock(worker), daemon=True)
    interrupted.start()
    interrupted.join(timeout=5)
    assert not interrupted.is_alive()  # Event.set() on the lock holder's own thread never returned
    assert worker.stopping
    assert worker._stop.wait(5)  # the pause of run_forever ends
    worker.close()


def _stop_holding_the_event_lock(worker: RefreshWorker) -> None:
    with worker._stop._cond:  # where the interrupted Event.wait holds it
        worker.stop()


def test_a_row_whose_lease_was_lost_before_it_started_is_skipped(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    cid, token = add(manager, sandbox, "slow-queue", 120)
    worker = RefreshWorker(manager)
    (claimed,) = worker._claim(10)
    later = dt.datetime.now(UTC) + dt.timedelta(seconds=worker.lease_seconds + 1)
    assert manager.store.acquire_lease(cid, "another-host:1:abc", 30, now=later) is not None  # took it over
    outcome = worker._refresh_one(claimed)
    assert outcome == "skipped"
    assert sandbox.token_requests_for(token) == 0
    assert row(manager, cid).lease_owner == "another-host:1:abc"


def test_a_claimed_row_no_longer_due_is_skipped_under_its_lease(
    manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    cid, token = add(manager, sandbox, "refreshed-elsewhere", 120)
    worker = RefreshWorker(manager)
    (claimed,) = worker._claim(10)
    # the token no longer needs refreshing by the time its turn comes (here: its expiry moved out of the horizon)
    current = row(manager, cid)
    moved = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    assert manager.store.write_refresh(cid, current.version, expires_at=moved, refresh_at=moved) is not None
    assert manager.store.acquire_lease(cid, worker.owner, 30) is not None  # still ours, at a newer version
    assert worker._refresh_one(claimed) == "skipped"
    assert sandbox.token_requests_for(token) == 0
    assert row(manager, cid).lease_owner is None  # released at once


def test_arguments_are_checked(manager: CredentialManager) -> None:
    with pytest.raises(FluxnexError):
        RefreshWorker(manager, concurrency=0)
    with pytest.raises(FluxnexError):
        RefreshWorker(manager, jitter=1.5)
    worker = RefreshWorker(manager, interval=10, jitter=0.2)
    pauses = [worker.next_pause() for _ in range(200)]
    assert all(8 <= p <= 12 for p in pauses) and max(pauses) - min(pauses) > 1
    assert "owner=" in repr(worker)
    json_summary = CycleSummary(started_at=dt.datetime.now(UTC), claimed=2, refreshed=2, duration=0.5).to_json()
    assert json_summary["claimed"] == 2 and isinstance(json_summary["started_at"], str)
