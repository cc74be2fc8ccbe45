"""Metrics rendered from the counters and the database on both backends: takeovers, outcomes, backlog, statuses."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle.observability import METRICS, render_metrics
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.testing.sandbox import SandboxProvider
from prometheus_client.parser import text_string_to_metric_families
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000a7")


def samples(manager: CredentialManager) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = render_metrics(manager)
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_backlog_statuses_outcomes_and_takeovers(manager: CredentialManager) -> None:
    with SandboxProvider(expires_in=3600) as sandbox:
        ids = []
        for i in range(3):
            tokens = {**sandbox.issue_tokens(), "expires_in": 3600, "expires_at": time.time() + 60}
            info = manager.create_connection(TENANT, "oAuth2Api", f"c{i}", {**sandbox.oauth2_data(),
                                                                           "oauthTokenData": tokens})  # fmt: skip
            ids.append(info.id)
        manager.create_connection(TENANT, "httpHeaderAuth", "static", {"name": "X", "value": "v"})
        before = samples(manager)
        assert before[("fluxnex_refresh_due_backlog", ())] == 3
        assert before[("fluxnex_connections", (("status", "ACTIVE"),))] == 4
        assert before[("fluxnex_db_pool_size", ())] == manager.max_database_connections
        ok_before = before.get(("fluxnex_refreshes_total", (("outcome", "ok"), ("type", "oAuth2Api"))), 0.0)
        # a worker that died holding a lease on c0: its lease lapsed
        dead = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        assert manager.store.acquire_lease(ids[0], "dead-worker", 1, now=dead - dt.timedelta(seconds=1))
        sandbox.fail_next("invalid_grant")
        worker = RefreshWorker(manager, events=False)
        try:
            summary = worker.run_once()
        finally:
            worker.close()
    assert (summary.refreshed, summary.expired) == (2, 1)
    after = samples(manager)
    assert after[("fluxnex_refresh_due_backlog", ())] == 0
    assert after[("fluxnex_lease_takeovers_total", ())] >= 1
    assert after[("fluxnex_refreshes_total", (("outcome", "ok"), ("type", "oAuth2Api")))] == ok_before + 2
    assert after[("fluxnex_refreshes_total", (("outcome", "expired"), ("type", "oAuth2Api")))] >= 1
    assert after[("fluxnex_connections", (("status", "EXPIRED"),))] == 1
    assert after[("fluxnex_refresh_duration_seconds_count", (("type", "oAuth2Api"),))] >= 3
    assert after[("fluxnex_events_undispatched", ())] >= 5  # 4 created, 1 expired: no worker dispatched them
    assert METRICS.last_cycle is not None
