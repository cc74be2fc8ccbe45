"""A refresher killed with SIGKILL while it holds the row lease: another process takes over once it expires."""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

import pytest
from fluxnex.storage.store import Status
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data, start_hanging_refresher, wait_for

LEASE = 2.0


@pytest.mark.slow
def test_lease_of_a_killed_process_is_taken_over(make_manager: Any, keys: str, sandbox: SandboxProvider) -> None:
    mgr = make_manager(lease_seconds=LEASE)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=1)
    old = data["oauthTokenData"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(fail="hang", fail_count=1, hang_seconds=120)

    proc = start_hanging_refresher(mgr.database_url, keys, LEASE, tenant, "c")
    try:
        leased = wait_for(lambda: (r := mgr.store.get(tenant, "c")) and r.lease_owner and r, 60, "the lease")
        wait_for(lambda: sandbox.token_requests_for(old["refresh_token"]) == 1, 30, "the hanging token request")
        assert str(proc.pid) in leased.lease_owner
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=10)
        assert proc.exitcode == -signal.SIGKILL
    finally:
        if proc.is_alive():
            proc.kill()

    started = time.monotonic()
    fresh = mgr.get_connection(tenant, "c")["oauthTokenData"]
    waited = time.monotonic() - started
    assert leased.lease_until is not None
    assert waited < LEASE + 3  # took over once the dead process's lease ran out, not after some long timeout
    assert fresh["access_token"] != old["access_token"] and sandbox.is_active(fresh["access_token"])
    assert sandbox.token_requests_for(old["refresh_token"]) == 2  # the hung one (never answered) and ours
    row = mgr.store.get(tenant, "c")
    assert row is not None and row.lease_owner is None and row.status == Status.ACTIVE
    assert row.version == leased.version + 1
    assert mgr.get_connection(tenant, "c")["oauthTokenData"]["access_token"] == fresh["access_token"]
