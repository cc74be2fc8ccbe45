"""The token a code-authenticated type's n8n code fetches first (googleApi's service-account grant, awsAssumeRole's
STS AssumeRole) is stored encrypted with the connection and fetched exactly once across threads and processes
(SQLite and PostgreSQL): when none is stored, and again when requests answer 401 (one re-fetch for all of them)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.api.n8n_export import export_n8n
from fluxnex.contract.errors import FluxnexError
from fluxnex.storage.store import Status
from lifecycle_support import *  # noqa: F403 - fixtures
from preauth_support import PEM, THREADS, FakeTokenServer, route_to, storm

GOOGLE = {"email": "sa@p.iam.gserviceaccount.com", "httpNode": True, "privateKey": PEM, "scopes": "s1"}
ROLE = {"region": "eu-west-1", "roleArn": "arn:aws:iam::123456789012:role/app", "externalId": "ext",
        "stsAccessKeyId": "AKIAMASTER", "stsSecretAccessKey": "MASTERSECRET"}
CISCO = {"region": "eu.amp", "clientId": "cid", "clientSecret": "csecret"}
CASES = {
    # type: data, the request header that carries the token, what it holds for token n, token requests per fetch
    "googleApi": (GOOGLE, "Authorization", "Bearer tok-{n}", 1),
    "awsAssumeRole": (ROLE, "x-amz-security-token", "session-tok-{n}", 1),
    "ciscoSecureEndpointApi": (CISCO, "Authorization", "Bearer tok-{n}", 2),  # SecureX, then Secure Endpoint
}

pytestmark = pytest.mark.usefixtures("catalog")


@contextmanager
def _connected(db_url: str, keys: str, type_name: str = "googleApi",
               latency: float = 0.0) -> Iterator[tuple[FakeTokenServer, CredentialManager, uuid.UUID]]:
    """A token server, a manager whose provider session reaches it, and connection "m" of ``type_name``."""
    with FakeTokenServer(latency=latency) as server:
        mgr = CredentialManager(db_url, keys)
        route_to(mgr.http, server.port)
        tenant = uuid.uuid4()
        try:
            mgr.create_connection(tenant, type_name, "m", CASES[type_name][0])
            yield server, mgr, tenant
        finally:
            mgr.close()


@pytest.mark.parametrize("type_name", sorted(CASES))
def test_fetched_once_across_processes_and_once_again_after_a_401(db_url: str, keys: str, type_name: str) -> None:
    _, header, shown, per_fetch = CASES[type_name]
    with _connected(db_url, keys, type_name, latency=0.2) as (server, mgr, tenant):
        resource = server.url + "/2015-03-31/functions"
        first = storm(mgr, db_url, keys, tenant, resource, header=header, port=server.port)
        assert server.token_calls == per_fetch  # 24 callers in 3 processes, one fetch
        assert first == [f"200:{shown.format(n=per_fetch)}"] * (3 * THREADS)
        server.revoke()  # the token is refused from now on: every request answers 401 once
        second = storm(mgr, db_url, keys, tenant, resource, header=header, port=server.port)
        assert server.token_calls == 2 * per_fetch  # one re-fetch for all of them
        newest = f"tok-{2 * per_fetch}"
        assert second == [f"200:{shown.format(n=2 * per_fetch)}"] * (3 * THREADS)
        row = mgr.store.get(tenant, "m")
        assert row is not None and newest not in str(row.data)  # encrypted with the connection
        entries = mgr.decrypt(row)["codeTokenData"].values()
        assert len(entries) == per_fetch and newest in json.dumps([e["answer"] for e in entries])
        assert all(e["expires_at"] > time.time() + 3000 for e in entries)


def test_stored_token_is_reused_until_its_expiry_and_kept_out_of_exports(db_url: str, keys: str) -> None:
    with _connected(db_url, keys) as (server, mgr, tenant):
        first = mgr.list_connections(tenant)[0].expires_at
        assert first is not None and first.timestamp() == 0  # no token yet: due at once
        for _ in range(3):
            with mgr.session(tenant, "m") as http:
                assert http.get(server.url + "/r").status_code == 200
        assert server.token_calls == 1
        info = mgr.list_connections(tenant)[0]
        assert info.expires_at is not None and info.expires_at.timestamp() > time.time() + 3000  # its own expiry
        exported = json.dumps(export_n8n(mgr, tenant)[0])
        assert "tok-1" not in exported and "codeTokenData" not in exported
        mgr.update_connection(tenant, "m", data={**GOOGLE, "scopes": "s2"})  # new credentials: a new token
        with mgr.session(tenant, "m") as http:
            assert http.get(server.url + "/r").status_code == 200
        assert server.token_calls == 2


def test_refused_credentials_expire_the_connection_and_store_nothing(db_url: str, keys: str) -> None:
    with _connected(db_url, keys) as (server, mgr, tenant):
        server.status = 401
        with pytest.raises(FluxnexError, match="answered 401") as err, mgr.session(tenant, "m") as http:
            http.get(server.url + "/r")
        assert PEM.splitlines()[1] not in str(err.value)
        row = mgr.store.get(tenant, "m")
        assert row is not None and row.status == Status.EXPIRED and "codeTokenData" not in mgr.decrypt(row)
        assert server.token_calls == 0 and len(server.requests) == 1  # refused once, not retried


def test_a_known_expiry_fetches_again_shortly_before_it(db_url: str, keys: str) -> None:
    with _connected(db_url, keys) as (server, mgr, tenant):
        server.lifetime = 5  # due with a fifth of its life left: reused for 4 s, then fetched once more
        for _ in range(3):
            with mgr.session(tenant, "m") as http:
                assert http.get(server.url + "/r").status_code == 200
        assert server.token_calls == 1
        time.sleep(4.2)
        for _ in range(3):
            with mgr.session(tenant, "m") as http:
                assert http.get(server.url + "/r").request.headers["Authorization"] == "Bearer tok-2"
        assert server.token_calls == 2
