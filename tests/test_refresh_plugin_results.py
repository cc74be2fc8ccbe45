"""A refresh_token hook's result is checked before it is stored; a type nobody refreshes is left alone.

A bad result (not a mapping, not JSON, too big, an OAuth2 result without an access token) is a RefreshError
naming the plugin that returned it; the stored row is unchanged (data, version, status, failures, last_error)
and the lease is released at once. A hook that answers None for a type: NotRefreshable, row unchanged, never
EXPIRED.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fluxnex import hookimpl
from fluxnex.contract.errors import NotRefreshable, RefreshError
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.n8n.validation import MAX_DATA_BYTES
from fluxnex.storage.store import Status
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data

BAD_RESULTS: dict[str, Any] = {
    "empty": {},
    "not_a_mapping": ["access_token", "x"],
    "a_string": "new-token",
    "not_json": {"oauthTokenData": {"access_token": "x"}, "when": object()},
    "huge": {"oauthTokenData": {"access_token": "x"}, "blob": "x" * (MAX_DATA_BYTES + 1)},
    "no_access_token": {"clientId": "c", "oauthTokenData": {"refresh_token": "r", "token_type": "bearer"}},
}
EXPECTED = {
    "empty": "without oauthTokenData.access_token",
    "not_a_mapping": "a list, not a mapping",
    "a_string": "a str, not a mapping",
    "not_json": "not JSON-serialisable",
    "huge": "over the limit of",
    "no_access_token": "without oauthTokenData.access_token",
}


class BadRefresher:
    """A plugin with an OAuth2 type whose refresh_token hook returns ``self.result``."""

    def __init__(self) -> None:
        self.result: Any = None
        self.calls = 0

    @hookimpl
    def register_credential_types(self, register: Any) -> None:
        register({"name": "badRefreshApi", "displayName": "Bad refresh", "extends": ["oAuth2Api"], "properties": []})
        register({"name": "staticKeyApi", "displayName": "Static key", "properties": [
            {"displayName": "Key", "name": "key", "type": "string", "default": ""}]})  # fmt: skip

    @hookimpl
    def refresh_token(self, credential_type: Any, data: dict[str, Any], http: Any) -> Any:
        if credential_type.name != "badRefreshApi":
            return None
        self.calls += 1
        return self.result


@pytest.fixture
def plugin(register_plugin: Any) -> BadRefresher:
    impl = BadRefresher()
    register_plugin(impl, name="bad-refresher")
    return impl


def snapshot(mgr: Any, tenant: uuid.UUID, name: str) -> tuple[Any, ...]:
    row = mgr.store.get(tenant, name)
    return (mgr.decrypt(row), row.version, row.status, row.refresh_failures, row.last_error, row.expires_at)


@pytest.mark.parametrize("case", sorted(BAD_RESULTS))
def test_a_bad_plugin_result_is_refused_and_nothing_is_stored(
    make_manager: Any, sandbox: SandboxProvider, plugin: BadRefresher, case: str
) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "badRefreshApi", "c", oauth_data(sandbox, expires_in=5))
    before = snapshot(mgr, tenant, "c")
    plugin.result = BAD_RESULTS[case]

    with pytest.raises(RefreshError) as caught:
        mgr.get_connection(tenant, "c")
    message = str(caught.value)
    assert "plugin 'bad-refresher'" in message and EXPECTED[case] in message and "connection 'c'" in message
    assert "\n" not in message
    assert snapshot(mgr, tenant, "c") == before  # unchanged: data, version, status, failures, last_error
    row = mgr.store.get(tenant, "c")
    assert row.lease_owner is None and row.lease_until is None  # released at once, not after the lease time

    # the worker gets the same answer and leaves the row alone too
    plugin.result = BAD_RESULTS[case]
    summary = RefreshWorker(mgr, horizon=600).run_once()
    assert (summary.claimed, summary.failed, summary.refreshed) == (1, 1, 0)
    assert snapshot(mgr, tenant, "c") == before

    # a good answer afterwards is stored
    plugin.result = {**mgr.decrypt(row), "oauthTokenData": {"access_token": "fresh", "expires_in": 3600,
                                                            "expires_at": time.time() + 3600}}  # fmt: skip
    assert mgr.get_connection(tenant, "c")["oauthTokenData"]["access_token"] == "fresh"


def test_a_type_no_plugin_refreshes_is_not_refreshable_and_never_expired(
    make_manager: Any, plugin: BadRefresher
) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "staticKeyApi", "k", {"key": "abc"})
    row = mgr.store.get(tenant, "k")
    # a stored expiry (say, an imported key with a best-before date) makes it due on demand
    assert mgr.store.update_cas(row.id, row.version, expires_at=row.created_at, last_error="earlier note") is not None
    before = snapshot(mgr, tenant, "k")

    with pytest.raises(NotRefreshable, match="no plugin refreshes credentials of type 'staticKeyApi'"):
        mgr.refresh_connection(tenant, "k")
    assert snapshot(mgr, tenant, "k") == before
    assert before[2] == Status.ACTIVE
    row = mgr.store.get(tenant, "k")
    assert row.lease_owner is None and row.status == Status.ACTIVE


def test_the_answering_plugin_is_traced(
    make_manager: Any, sandbox: SandboxProvider, plugin: BadRefresher, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLUXNEX_TRACE_PLUGINS", "1")
    mgr = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "badRefreshApi", "c", oauth_data(sandbox, expires_in=5))
    plugin.result = {}
    with pytest.raises(RefreshError):
        mgr.get_connection(tenant, "c")
    assert "fluxnex plugins: refresh_token(badRefreshApi) answered by bad-refresher" in capsys.readouterr().err
