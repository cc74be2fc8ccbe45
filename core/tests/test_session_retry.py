"""The authenticated session waits out one 429 Retry-After, and urllib3's logs never show a query-string key."""

from __future__ import annotations

import base64
import logging
import os
import time
import uuid
from pathlib import Path

import pytest
from fluxnex import CredentialManager
from fluxnex.testing.api_server import ApiRequest, ApiServer

TENANT = uuid.uuid4()
KEY = "qs-key-" + uuid.uuid4().hex


@pytest.fixture
def manager(tmp_path: Path) -> CredentialManager:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    mgr = CredentialManager(f"sqlite:///{tmp_path / 'db.sqlite'}", f"k1:{key}")
    mgr.create_connection(TENANT, "httpQueryAuth", "q", {"name": "api_key", "value": KEY})
    return mgr


def test_a_429_with_a_short_retry_after_is_waited_out_once(manager: CredentialManager) -> None:
    calls: list[float] = []

    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return 429, {"error": "slow down"}, {"Retry-After": "1"}
        return 200, {"key_seen": request.query.get("api_key") == KEY}, {}

    with ApiServer(answer) as api:
        response = manager.session(TENANT, "q").get(api.url + "/things")
    assert response.status_code == 200 and response.json() == {"key_seen": True}
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.9


def test_a_long_retry_after_is_returned_to_the_caller(manager: CredentialManager) -> None:
    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        return 429, {}, {"Retry-After": "3600"}

    with ApiServer(answer) as api:
        started = time.monotonic()
        response = manager.session(TENANT, "q").get(api.url + "/things")
    assert response.status_code == 429 and time.monotonic() - started < 5
    assert len(api.received) == 1


def test_urllib3_debug_log_does_not_show_query_keys(
    manager: CredentialManager, caplog: pytest.LogCaptureFixture
) -> None:
    with ApiServer(lambda request: (200, {}, {})) as api, caplog.at_level(logging.DEBUG, logger="urllib3"):
        manager.session(TENANT, "q").get(api.url + "/things")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/things" in line for line in lines)  # the request was logged ...
    assert not any(KEY in line for line in lines)  # ... without the key in its query string
