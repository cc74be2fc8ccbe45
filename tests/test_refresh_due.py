""""Due" scales with each token's own lifetime: below min(horizon or leeway, 20% of its lifetime).

At most one refresh per token generation across all workers: two workers over the same short-lived tokens
make one grant per connection, a long-running worker does not refresh a just-refreshed token on its next
cycle, and tokens shorter than the on-demand leeway are not refreshed on every ``get_connection``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.lifecycle.tokens import REFRESH_FRACTION
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import SPAWN, oauth_data

CONNECTIONS = 12


def _worker_process(url: str, keys: str, go_at: float, cycles: int, results: Any) -> None:
    mgr = CredentialManager(url, keys)
    worker = RefreshWorker(mgr, horizon=600, interval=0, concurrency=4, batch_size=5)
    time.sleep(max(0.0, go_at - time.time()))
    refreshed = [worker.run_once().refreshed for _ in range(cycles)]
    worker.close()
    mgr.close()
    results.put(refreshed)


def add_due(mgr: CredentialManager, sandbox: SandboxProvider, lifetime: int, n: int) -> list[str]:
    """``n`` connections whose ``lifetime``-second tokens are inside their last 10%: due. Their refresh tokens."""
    tenant = uuid.uuid4()
    tokens = []
    for i in range(n):
        data = oauth_data(sandbox, expires_in=int(lifetime * 0.1) or 1, lifetime=lifetime)
        mgr.create_connection(tenant, "oAuth2Api", f"c{i}", data)
        tokens.append(data["oauthTokenData"]["refresh_token"])
    return tokens


@pytest.mark.slow
@pytest.mark.parametrize("lifetime", [90, 30])
def test_two_concurrent_workers_make_one_grant_per_connection(
    make_manager: Any, keys: str, sandbox: SandboxProvider, lifetime: int
) -> None:
    mgr = make_manager()
    sandbox.configure(expires_in=lifetime, latency=0.05)
    tokens = add_due(mgr, sandbox, lifetime, CONNECTIONS)
    results: Any = SPAWN.Queue()
    go_at = time.time() + 3.0
    procs = [SPAWN.Process(target=_worker_process, args=(mgr.database_url, keys, go_at, 3, results)) for _ in "ab"]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(sandbox.token_requests_for(t) == 1 for t in tokens), [sandbox.token_requests_for(t) for t in tokens]
    assert sandbox.token_requests.get("refresh_token") == CONNECTIONS
    assert sum(sum(o) for o in outcomes) == CONNECTIONS  # later cycles of both workers found nothing due
    for row in mgr.store.list():
        assert row.refresh_at is not None and row.expires_at is not None
        assert (row.expires_at - row.refresh_at).total_seconds() == pytest.approx(REFRESH_FRACTION * lifetime, abs=1)


def test_a_long_running_worker_does_not_refresh_every_cycle(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager()
    sandbox.configure(expires_in=90)
    tokens = add_due(mgr, sandbox, 90, 5)
    worker = RefreshWorker(mgr, horizon=600, interval=0)
    try:
        summaries = [worker.run_once() for _ in range(4)]
    finally:
        worker.close()
    assert [s.refreshed for s in summaries] == [5, 0, 0, 0]
    assert [s.claimed for s in summaries] == [5, 0, 0, 0]
    assert all(sandbox.token_requests_for(t) == 1 for t in tokens)


def test_on_demand_leeway_scales_down_for_tokens_shorter_than_it(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager()  # default leeway 60 s
    sandbox.configure(expires_in=30)
    tenant = uuid.uuid4()
    fresh = oauth_data(sandbox, expires_in=30, lifetime=30)  # just issued, 30 s left of 30
    mgr.create_connection(tenant, "oAuth2Api", "new", fresh)
    for _ in range(5):
        assert mgr.get_connection(tenant, "new")["oauthTokenData"]["access_token"] == fresh["oauthTokenData"][
            "access_token"
        ]
    assert sandbox.token_requests.get("refresh_token") is None  # not refreshed on every call

    ending = oauth_data(sandbox, expires_in=3, lifetime=30)  # 3 s left: below 20% of 30 s
    mgr.create_connection(tenant, "oAuth2Api", "ending", ending)
    first = mgr.get_connection(tenant, "ending")["oauthTokenData"]
    assert first["access_token"] != ending["oauthTokenData"]["access_token"]
    for _ in range(5):
        assert mgr.get_connection(tenant, "ending")["oauthTokenData"]["access_token"] == first["access_token"]
    assert sandbox.token_requests_for(ending["oauthTokenData"]["refresh_token"]) == 1
    assert sandbox.token_requests.get("refresh_token") == 1


def test_the_fraction_is_configurable(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager(refresh_fraction=0.5)
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "oAuth2Api", "c", oauth_data(sandbox, expires_in=100, lifetime=100))
    row = mgr.store.get(tenant, "c")
    assert (row.expires_at - row.refresh_at).total_seconds() == pytest.approx(50, abs=1)
    with pytest.raises(Exception, match=r"refresh_fraction must be in \(0, 1\), got 1.5"):
        make_manager(refresh_fraction=1.5)
