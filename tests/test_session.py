"""``CredentialManager.session()`` against the sandbox's protected resource ``/api/me``."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConnectionNotFound
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data


@pytest.fixture
def connected(make_manager: Any, sandbox: SandboxProvider) -> tuple[CredentialManager, uuid.UUID, dict[str, Any]]:
    mgr: CredentialManager = make_manager()
    tenant = uuid.uuid4()
    data = oauth_data(sandbox)
    mgr.create_connection(tenant, "oAuth2Api", "api", data)
    return mgr, tenant, data["oauthTokenData"]


def test_bearer_token_is_added(connected: Any, sandbox: SandboxProvider) -> None:
    mgr, tenant, token = connected
    with mgr.session(tenant, "api") as s:
        response = s.get(sandbox.api_url)
    assert response.status_code == 200 and response.json()["client_id"] == "sandbox-client"
    assert sandbox.api_requests == 1 and sandbox.token_requests == {}
    assert token["access_token"] not in repr(s)
    with pytest.raises(ConnectionNotFound):
        mgr.session(tenant, "missing")


def test_401_refreshes_once_and_retries_once(connected: Any, sandbox: SandboxProvider) -> None:
    mgr, tenant, token = connected
    sandbox.expire_access_token(token["access_token"])
    with mgr.session(tenant, "api") as s:
        response = s.get(sandbox.api_url)
        assert response.status_code == 200
        assert sandbox.token_requests_for(token["refresh_token"]) == 1 and sandbox.api_requests == 2
        stored = mgr.get_connection(tenant, "api")["oauthTokenData"]
        assert stored["access_token"] != token["access_token"] and sandbox.is_active(stored["access_token"])
        assert s.get(sandbox.api_url).status_code == 200  # the stored fresh token is used from now on
    assert sandbox.api_requests == 3 and sandbox.token_requests.get("refresh_token") == 1


def test_a_second_401_is_returned_not_retried_again(connected: Any, sandbox: SandboxProvider) -> None:
    mgr, tenant, _token = connected
    sandbox.configure(expires_in=0)  # every token the sandbox mints from now on is already expired
    with mgr.session(tenant, "api") as s:
        sandbox.expire_access_token(mgr.get_connection(tenant, "api")["oauthTokenData"]["access_token"])
        response = s.get(sandbox.api_url)
    assert response.status_code == 401
    assert sandbox.api_requests == 2 and sandbox.token_requests.get("refresh_token") == 1


def test_streamed_body_is_not_retried(connected: Any, sandbox: SandboxProvider) -> None:
    mgr, tenant, token = connected
    sandbox.expire_access_token(token["access_token"])

    def body() -> Iterator[bytes]:
        yield b"part one;"
        yield b"part two"

    with mgr.session(tenant, "api") as s:
        response = s.request("GET", sandbox.api_url, data=body())
    assert response.status_code == 401
    assert sandbox.api_requests == 1 and sandbox.token_requests == {}


def test_sixteen_threads_hitting_401_refresh_once(connected: Any, sandbox: SandboxProvider) -> None:
    mgr, tenant, token = connected
    sandbox.configure(latency=0.05)
    sandbox.expire_access_token(token["access_token"])
    barrier = threading.Barrier(16)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with mgr.session(tenant, "api") as s:
            s.get(sandbox.url + "/nothing")  # warm the connection so the 16 real requests land together
            barrier.wait()
            status = s.get(sandbox.api_url).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 16
    assert sandbox.token_requests_for(token["refresh_token"]) == 1
    assert sandbox.token_requests.get("refresh_token") == 1
    assert sandbox.api_requests >= 17  # at least one 401 (the expired token) plus 16 successes


def test_non_oauth_connection_is_authenticated_by_its_block(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr: CredentialManager = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "httpHeaderAuth", "hdr", {"name": "X-Api-Key", "value": "hdr-value-123"})
    seen: dict[str, str] = {}

    def capture(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.update(response.request.headers)

    with mgr.session(tenant, "hdr") as s:
        s.get(sandbox.url + "/nothing", hooks={"response": capture})
    assert seen.get("X-Api-Key") == "hdr-value-123"
