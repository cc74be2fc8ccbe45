"""A live owner never loses its lease: slow token endpoints and slow plugin hooks are waited for, not raced.

The lease is renewed by the owner's heartbeat while the token request (and any plugin hook) runs, so a second
process waits for the first one's answer instead of taking the row over and spending the same refresh token
(which a rotating provider answers with revoking the grant). The request still has an overall deadline.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from fluxnex import hookimpl
from fluxnex.contract.errors import RefreshError
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data, start_refresher, wait_for

LEASE = 1.5


@pytest.mark.slow
def test_a_provider_slower_than_the_lease_gets_one_grant_across_two_processes(
    make_manager: Any, keys: str, sandbox: SandboxProvider
) -> None:
    mgr = make_manager(lease_seconds=LEASE)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    old = data["oauthTokenData"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=4 * LEASE)  # strict rotation with reuse detection (the sandbox's default)

    proc, results = start_refresher(mgr.database_url, keys, LEASE, tenant, "c")
    try:
        wait_for(lambda: sandbox.token_requests_for(old["refresh_token"]) == 1, 60, "the first process's request")
        mine = mgr.get_connection(tenant, "c")["oauthTokenData"]  # waits for the other process's answer
        kind, theirs = results.get(timeout=60)
        proc.join(30)
    finally:
        if proc.is_alive():
            proc.kill()
    assert kind == "ok", theirs
    assert sandbox.token_requests_for(old["refresh_token"]) == 1  # exactly one grant
    assert sandbox.token_requests.get("refresh_token") == 1
    assert mine["access_token"] == theirs  # the slow one's token, stored and shared
    stored = mgr.decrypt(mgr.store.get(tenant, "c"))["oauthTokenData"]
    assert stored["access_token"] == theirs and sandbox.is_active(stored["refresh_token"])


class SlowHook:
    """A plugin whose refresh hook takes longer than the lease before delegating to core's OAuth2 refresher."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    @hookimpl(tryfirst=True)
    def refresh_token(self, credential_type: Any, data: dict[str, Any], http: Any) -> Any:
        from fluxnex.lifecycle import builtin

        self.calls += 1
        time.sleep(self.seconds)
        return builtin.refresh_token(credential_type=credential_type, data=data, http=http)


def test_a_plugin_hook_slower_than_the_lease_keeps_its_lease(
    make_manager: Any, sandbox: SandboxProvider, register_plugin: Any
) -> None:
    hook = SlowHook(3 * LEASE)
    register_plugin(hook, name="slow-hook")
    first, second = make_manager(lease_seconds=LEASE), make_manager(lease_seconds=LEASE)  # two lease owners
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    first.create_connection(tenant, "oAuth2Api", "c", data)
    got: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: got.update(first=first.get_connection(tenant, "c")))
    thread.start()
    wait_for(lambda: hook.calls == 1, 10, "the slow hook")
    time.sleep(LEASE * 1.5)  # past the lease the first owner took: only its heartbeat keeps it
    row = second.store.get(tenant, "c")
    assert row.lease_owner == first.refresher.owner and row.lease_until is not None
    assert row.lease_until.timestamp() > time.time()
    got["second"] = second.get_connection(tenant, "c")
    thread.join(30)
    assert hook.calls == 1 and sandbox.token_requests.get("refresh_token") == 1
    assert got["first"]["oauthTokenData"]["access_token"] == got["second"]["oauthTokenData"]["access_token"]
    assert first.refresher.heartbeat.beats >= 2


def test_the_token_request_has_an_overall_deadline(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager(http_timeout=1.0)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=-5)  # lapsed: the failure is raised, not hidden behind the old token
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=3.0)
    with pytest.raises(RefreshError, match=r"token request to 127\.0\.0\.1:\d+ timed out after 1s") as caught:
        mgr.get_connection(tenant, "c")
    assert caught.value.transient
    row = mgr.store.get(tenant, "c")
    assert row.lease_owner is None and row.refresh_failures == 1 and row.next_attempt_at is not None


@pytest.mark.slow
def test_an_answer_slower_than_ten_seconds_is_read_to_the_end(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager()  # default deadline: 120 s for the whole request (no 10 s per-read limit any more)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=11.0)
    fresh = mgr.get_connection(tenant, "c")["oauthTokenData"]
    assert fresh["access_token"] != data["oauthTokenData"]["access_token"] and sandbox.is_active(fresh["access_token"])
    assert sandbox.token_requests.get("refresh_token") == 1
