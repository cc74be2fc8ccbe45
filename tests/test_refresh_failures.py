"""Every refresh failure mode of the sandbox gives the right status, last_error, backoff and message."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConnectionExpired, RefreshError
from fluxnex.storage.store import Status
from fluxnex.testing.sandbox import DEFAULT_CLIENT_SECRET, SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data

TRANSIENT = {
    "500": "HTTP 500",
    "429": "HTTP 429",
    "hang": "timed out",
    "malformed": "not a JSON object",
    "missing_access_token": "no access_token",
}
PERMANENT = {"invalid_grant": "invalid_grant", "invalid_client": "invalid_client", "revoked": "revoked"}
RETRY_AFTER = 120


@pytest.fixture
def mgr(make_manager: Any, sandbox: SandboxProvider) -> CredentialManager:
    sandbox.configure(retry_after=RETRY_AFTER, hang_seconds=5)
    m: CredentialManager = make_manager(http_timeout=0.5)
    return m


def secrets_of(data: dict[str, Any]) -> list[str]:
    token = data["oauthTokenData"]
    return [token["access_token"], token["refresh_token"], DEFAULT_CLIENT_SECRET]


def fail(sandbox: SandboxProvider, mode: str, data: dict[str, Any]) -> None:
    if mode == "revoked":
        sandbox.revoke(data["oauthTokenData"]["refresh_token"])
    else:
        sandbox.fail_always(mode)


@pytest.mark.parametrize("mode", list(TRANSIENT))
def test_transient_failure_while_the_token_still_works(
    mgr: CredentialManager, sandbox: SandboxProvider, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=30)  # inside the 60 s leeway, not lapsed
    rt = data["oauthTokenData"]["refresh_token"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.fail_always(mode)

    before = time.time()
    served = mgr.get_connection(tenant, "c")
    assert served["oauthTokenData"]["access_token"] == data["oauthTokenData"]["access_token"]
    info = mgr.get_connection_info(tenant, "c")
    assert info.status == Status.ACTIVE  # not ERROR: the access token has not lapsed
    assert info.refresh_failures == 1 and info.last_error is not None and TRANSIENT[mode] in info.last_error
    row = mgr.store.get(tenant, "c")
    assert row is not None and row.next_attempt_at is not None and row.lease_owner is None
    wait = row.next_attempt_at.timestamp() - before
    assert wait >= (RETRY_AFTER - 1 if mode == "429" else 10)

    # during the backoff the current token is served without asking the provider again
    assert mgr.get_connection(tenant, "c") == served
    assert sandbox.token_requests_for(rt) == 1

    # a later success (here forced) resets the failures and the error
    sandbox.clear_failures()
    fresh = mgr.refresh_connection(tenant, "c")["oauthTokenData"]
    assert fresh["access_token"] != data["oauthTokenData"]["access_token"]
    info = mgr.get_connection_info(tenant, "c")
    assert (info.status, info.refresh_failures, info.last_error) == (Status.ACTIVE, 0, None)
    row = mgr.store.get(tenant, "c")
    assert row is not None and row.next_attempt_at is None
    for secret in [*secrets_of(data), fresh["access_token"], fresh["refresh_token"]]:
        assert secret not in caplog.text and secret not in (info.last_error or "")


@pytest.mark.parametrize("mode", list(TRANSIENT))
def test_transient_failure_after_the_token_lapsed_is_error_then_recovers(
    mgr: CredentialManager, sandbox: SandboxProvider, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=0)  # lapsed now
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.fail_always(mode)

    with pytest.raises(RefreshError) as caught:
        mgr.get_connection(tenant, "c")
    assert caught.value.transient
    if mode == "429":
        assert caught.value.retry_after == RETRY_AFTER
    info = mgr.get_connection_info(tenant, "c")
    assert info.status == Status.ERROR and info.refresh_failures == 1
    assert info.last_error is not None and TRANSIENT[mode] in info.last_error

    with pytest.raises(RefreshError):
        mgr.get_connection(tenant, "c")  # a lapsed token is retried on demand; failures count up
    assert mgr.get_connection_info(tenant, "c").refresh_failures == 2

    sandbox.clear_failures()
    fresh = mgr.get_connection(tenant, "c")["oauthTokenData"]
    assert sandbox.is_active(fresh["access_token"])
    info = mgr.get_connection_info(tenant, "c")
    assert (info.status, info.refresh_failures, info.last_error) == (Status.ACTIVE, 0, None)
    text = caplog.text + str(caught.value)
    for secret in [*secrets_of(data), fresh["access_token"], fresh["refresh_token"]]:
        assert secret not in text


@pytest.mark.parametrize("mode", list(PERMANENT))
@pytest.mark.parametrize("lapsed", [False, True])
def test_permanent_failure_expires_the_connection(
    mgr: CredentialManager, sandbox: SandboxProvider, mode: str, lapsed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=0 if lapsed else 30)
    rt = data["oauthTokenData"]["refresh_token"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    fail(sandbox, mode, data)

    with pytest.raises(ConnectionExpired) as caught:
        mgr.get_connection(tenant, "c")
    message = str(caught.value)
    assert "fluxnex connect" in message and f"--tenant {tenant}" in message and "--type oAuth2Api" in message
    info = mgr.get_connection_info(tenant, "c")
    assert info.status == Status.EXPIRED and info.last_error is not None
    assert PERMANENT[mode] in info.last_error
    assert mgr.list_connections(tenant, status="EXPIRED")[0].name == "c"

    sandbox.clear_failures()
    with pytest.raises(ConnectionExpired, match="fluxnex connect"):
        mgr.get_connection(tenant, "c")  # no provider call for an expired connection
    with pytest.raises(ConnectionExpired):
        mgr.refresh_connection(tenant, "c")
    assert sandbox.token_requests_for(rt) == 1
    for secret in secrets_of(data):
        assert secret not in caplog.text and secret not in message

    # reconnecting (new token data) makes it ACTIVE again
    mgr.update_connection(tenant, "c", data=oauth_data(sandbox))
    info = mgr.get_connection_info(tenant, "c")
    assert (info.status, info.refresh_failures, info.last_error) == (Status.ACTIVE, 0, None)


def test_backoff_grows_with_consecutive_failures(mgr: CredentialManager, sandbox: SandboxProvider) -> None:
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "oAuth2Api", "c", oauth_data(sandbox, expires_in=0))
    sandbox.fail_always("500")
    waits = []
    for _ in range(4):
        with pytest.raises(RefreshError):
            mgr.get_connection(tenant, "c")
        row = mgr.store.get(tenant, "c")
        assert row is not None and row.next_attempt_at is not None
        waits.append((row.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds())
    assert waits[3] > waits[0] * 2  # exponential (with jitter in [0.5, 1])
    assert mgr.get_connection_info(tenant, "c").refresh_failures == 4


@pytest.mark.parametrize("mode", ["500", "429"])
def test_a_token_about_to_lapse_is_not_handed_over_in_place_of_a_failed_refresh(
    mgr: CredentialManager, sandbox: SandboxProvider, mode: str
) -> None:
    """A failed or postponed refresh serves the current token only while it lives ``HANDOVER_MARGIN`` more: a token
    a moment from its expiry would be refused where the caller uses it (the soak's readers saw this as a 401)."""
    from fluxnex.lifecycle.tokens import HANDOVER_MARGIN

    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=int(HANDOVER_MARGIN) - 2)  # due, not lapsed, inside the margin
    rt = data["oauthTokenData"]["refresh_token"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.fail_always(mode)

    with pytest.raises(RefreshError) as caught:  # the refresh failed and the token lapses within the margin
        mgr.get_connection(tenant, "c")
    assert caught.value.transient
    assert sandbox.token_requests_for(rt) == 1
    row = mgr.store.get(tenant, "c")
    assert row is not None and row.next_attempt_at is not None

    # during the backoff: no provider call, and the one-line error says until when and why
    with pytest.raises(RefreshError, match=r"lapses in \d+\.\d s") as caught:
        mgr.get_connection(tenant, "c")
    message = str(caught.value)
    assert caught.value.transient and "\n" not in message and "next attempt is at" in message
    assert TRANSIENT[mode] in message and data["oauthTokenData"]["access_token"] not in message
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert sandbox.token_requests_for(rt) == 1


def test_a_token_with_time_left_is_still_handed_over_during_the_backoff(
    mgr: CredentialManager, sandbox: SandboxProvider
) -> None:
    from fluxnex.lifecycle.tokens import HANDOVER_MARGIN

    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=int(HANDOVER_MARGIN) + 8, lifetime=60)  # due (20% of 60 s), not lapsing
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.fail_always("500")
    token = data["oauthTokenData"]["access_token"]
    assert mgr.get_connection(tenant, "c")["oauthTokenData"]["access_token"] == token
    assert mgr.get_connection(tenant, "c")["oauthTokenData"]["access_token"] == token  # backing off
    assert sandbox.token_requests_for(data["oauthTokenData"]["refresh_token"]) == 1
