"""Refresh storm: 4 processes x 16 threads ask for one expired connection at the same instant.

The sandbox rotates refresh tokens strictly and revokes the whole grant on reuse, with 50 ms of latency, so a
second refresh would show up as a second token request and as invalid_grant (EXPIRED) for someone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import generate_key_line
from fluxnex.storage.store import Status
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import StormPool, new_pg_schema, oauth_data

ROUNDS = 20


@pytest.fixture(scope="module")
def storm_sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider(latency=0.05, rotation="strict", reuse_detection=True) as provider:
        yield provider


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def storm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CredentialManager, StormPool]]:
    """A manager in this process and a reusable pool of 4 worker processes x 16 threads on one database."""
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('storm')}/fluxnex.db"
    else:
        url, drop = new_pg_schema()
    keys = generate_key_line("k1")
    mgr = CredentialManager(url, keys)
    pool = StormPool(url, keys, processes=4, threads=16)
    try:
        yield mgr, pool
    finally:
        pool.close()
        mgr.close()
        if drop is not None:
            drop()


@pytest.mark.slow
@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_storm_refreshes_exactly_once(
    storm: tuple[CredentialManager, StormPool], storm_sandbox: SandboxProvider, round_no: int
) -> None:
    mgr, pool = storm
    tenant = uuid.uuid4()
    data = oauth_data(storm_sandbox, expires_in=1)  # inside the 60 s leeway: due now
    old = data["oauthTokenData"]
    name = f"storm-{round_no}"
    mgr.create_connection(tenant, "oAuth2Api", name, data)

    outcomes = pool.round(tenant, name)

    assert len(outcomes) == 64
    errors = [detail for kind, detail, _ in outcomes if kind != "ok"]
    assert errors == []
    tokens = {detail for _, detail, _ in outcomes}
    assert len(tokens) == 1 and old["access_token"] not in tokens
    assert storm_sandbox.token_requests_for(old["refresh_token"]) == 1
    assert not any("invalid_grant" in r for r in errors)
    stored = mgr.get_connection(tenant, name)["oauthTokenData"]
    assert stored["access_token"] in tokens and storm_sandbox.is_active(stored["refresh_token"])
    info = mgr.get_connection_info(tenant, name)
    assert info.status == Status.ACTIVE and info.refresh_failures == 0
