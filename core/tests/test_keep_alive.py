"""Keep-alive: the worker refreshes idle connections of a type with a keep-alive interval, on both databases."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConfigurationError
from fluxnex.lifecycle.keep_alive import KeepAlive, parse_duration, parse_overrides
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.testing.sandbox import SandboxProvider
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000f1")
UTC = dt.UTC


def add(manager: CredentialManager, sandbox: SandboxProvider, name: str, idle_for: float) -> str:
    """A connection whose access token is good for a day, last refreshed ``idle_for`` seconds ago."""
    tokens = {**sandbox.issue_tokens(expires_in=86400), "expires_in": 86400, "expires_at": time.time() + 86400}
    manager.create_connection(TENANT, "oAuth2Api", name, {**sandbox.oauth2_data(), "oauthTokenData": tokens})
    row = manager.store.get(TENANT, name)
    assert row is not None
    stamp = dt.datetime.now(UTC) - dt.timedelta(seconds=idle_for)
    assert manager.store.update_cas(row.id, row.version, last_refreshed_at=stamp) is not None
    return str(tokens["refresh_token"])


def test_idle_connections_are_refreshed_once_and_busy_ones_not(manager: CredentialManager) -> None:
    with SandboxProvider(expires_in=86400) as sandbox:
        idle_token = add(manager, sandbox, "idle", idle_for=2 * 3600)
        busy_token = add(manager, sandbox, "busy", idle_for=60)
        worker = RefreshWorker(manager, keep_alive={"oAuth2Api": 3600}, events=False)
        try:
            first = worker.run_once()
            second = worker.run_once()
        finally:
            worker.close()
        assert sandbox.token_requests_for(idle_token) == 1 and sandbox.token_requests_for(busy_token) == 0
    assert (first.claimed, first.refreshed) == (1, 1) and second.claimed == 0
    row = manager.store.get(TENANT, "idle")
    assert row is not None and row.last_refreshed_at is not None
    assert row.last_refreshed_at > dt.datetime.now(UTC) - dt.timedelta(minutes=1)


def test_without_keep_alive_an_idle_connection_with_a_valid_token_is_left_alone(manager: CredentialManager) -> None:
    with SandboxProvider(expires_in=86400) as sandbox:
        token = add(manager, sandbox, "idle", idle_for=90 * 86400)
        worker = RefreshWorker(manager, events=False)
        try:
            assert worker.run_once().claimed == 0
        finally:
            worker.close()
        assert sandbox.token_requests_for(token) == 0


def test_intervals_from_types_and_overrides(manager: CredentialManager, monkeypatch: pytest.MonkeyPatch) -> None:
    assert KeepAlive(manager.store, manager.registry).intervals().get("quickBooksOAuth2Api") == 30 * 86400
    monkeypatch.setenv("FLUXNEX_KEEP_ALIVE", "quickBooksOAuth2Api=0, oAuth2Api=12h")
    intervals = KeepAlive(manager.store, manager.registry).intervals()
    assert "quickBooksOAuth2Api" not in intervals and intervals["oAuth2Api"] == 12 * 3600
    assert parse_duration("90m") == 5400 and parse_duration("45") == 45
    with pytest.raises(ConfigurationError, match="use a number with s, m, h or d"):
        parse_duration("soon")
    with pytest.raises(ConfigurationError, match="expected TYPE=DURATION"):
        parse_overrides("quickBooksOAuth2Api")
