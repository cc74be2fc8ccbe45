"""Refresh results are written compare-and-set on version, and never revert or overwrite newer data.

- An ``update_connection`` (a new client secret) made while a refresh is in flight is kept, with the new token
  merged into it.
- A reconnect (new token pair) made while a refresh is in flight wins: the refresh's result is superseded.
- A refresh whose lease was taken over while it waited (its owner looked dead) still stores its token when the
  row still holds the generation it replaced; the process that took over cannot write over it.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data, wait_for


def refresh_in_thread(mgr: Any, tenant: uuid.UUID, name: str) -> tuple[threading.Thread, dict[str, Any]]:
    got: dict[str, Any] = {}

    def run() -> None:
        try:
            got["data"] = mgr.get_connection(tenant, name)
        except BaseException as exc:  # reported by the test
            got["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, got


def test_an_update_during_a_refresh_is_kept_and_the_new_token_merged_in(
    make_manager: Any, sandbox: SandboxProvider
) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    old = data["oauthTokenData"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=1.5)
    thread, got = refresh_in_thread(mgr, tenant, "c")
    wait_for(lambda: sandbox.token_requests_for(old["refresh_token"]) == 1, 10, "the token request")

    settings = {k: v for k, v in data.items() if k != "oauthTokenData"}
    mgr.update_connection(tenant, "c", data={**settings, "clientSecret": "rotated-secret", "scope": "a b"})
    thread.join(30)
    assert "error" not in got, got.get("error")
    fresh = got["data"]["oauthTokenData"]
    assert fresh["access_token"] != old["access_token"]

    stored = mgr.decrypt(mgr.store.get(tenant, "c"))
    assert stored["clientSecret"] == "rotated-secret" and stored["scope"] == "a b"  # the update is not reverted
    assert stored["oauthTokenData"]["access_token"] == fresh["access_token"]  # and the new token is in
    assert stored["oauthTokenData"]["refresh_token"] == fresh["refresh_token"]
    assert sandbox.token_requests_for(old["refresh_token"]) == 1
    row = mgr.store.get(tenant, "c")
    assert row.lease_owner is None and row.version == 3  # created (1), updated (2), merged refresh result (3)


def test_a_reconnect_during_a_refresh_wins_over_the_older_refresh(
    make_manager: Any, sandbox: SandboxProvider
) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    old = data["oauthTokenData"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=1.5)
    thread, got = refresh_in_thread(mgr, tenant, "c")
    wait_for(lambda: sandbox.token_requests_for(old["refresh_token"]) == 1, 10, "the token request")

    reconnected = sandbox.issue_tokens(expires_in=3600)
    mgr.update_connection(tenant, "c", data={**data, "oauthTokenData": reconnected})
    thread.join(30)
    assert "error" not in got, got.get("error")
    stored = mgr.decrypt(mgr.store.get(tenant, "c"))["oauthTokenData"]
    assert stored["access_token"] == reconnected["access_token"]  # the newer generation is not overwritten
    assert stored["refresh_token"] == reconnected["refresh_token"]


def test_a_result_whose_lease_was_taken_over_is_stored_when_the_row_still_holds_the_old_token(
    make_manager: Any, sandbox: SandboxProvider
) -> None:
    slow = make_manager(lease_seconds=1.0)
    slow.refresher.heartbeat.interval = 3600.0  # this owner looks dead: it stops renewing
    other = make_manager()
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=5)
    old = data["oauthTokenData"]
    slow.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=2.5)
    thread, got = refresh_in_thread(slow, tenant, "c")
    wait_for(lambda: sandbox.token_requests_for(old["refresh_token"]) == 1, 10, "the token request")
    read = other.store.get(tenant, "c")
    time.sleep(1.2)  # the silent owner's lease lapses
    taken = other.store.acquire_lease(read.id, other.refresher.owner, 30)
    assert taken is not None and taken.lease_owner == other.refresher.owner

    thread.join(30)
    assert "error" not in got, got.get("error")
    fresh = got["data"]["oauthTokenData"]
    row = other.store.get(tenant, "c")
    stored = other.decrypt(row)["oauthTokenData"]
    assert stored["access_token"] == fresh["access_token"]  # kept, not thrown away
    assert row.version == read.version + 1 and row.lease_owner is None
    # the process that took over can no longer write what it would have computed from the old row
    assert other.store.complete_lease(read.id, other.refresher.owner, read.version, last_error="late") is None
    assert sandbox.is_active(fresh["refresh_token"])
