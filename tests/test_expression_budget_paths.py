"""The expression budget where tenant values are evaluated: ``session()``, the refresh (scope) and tests."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import FluxnexError
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.api_server import ApiServer
from fluxnex.testing.sandbox import SandboxProvider

TENANT = uuid.uuid4()
AMPLIFIER = "={{ 'a'.repeat(99999).replaceAll('a', \"$'$'\") }}"  # 1.4 GB before the budget
CATASTROPHIC = "={{ /(a|aa)+c/.test('a'.repeat(60)) ? 'x' : 'y' }}"  # seconds to years of backtracking


@pytest.fixture
def mgr(tmp_path: Path) -> Iterator[CredentialManager]:
    (tmp_path / "db").mkdir()
    manager = CredentialManager(f"sqlite:///{tmp_path}/db/fluxnex.db", generate_key_line("k1"))
    yield manager
    manager.close()


def _peak(run: object) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(FluxnexError, match=r"longer than|work budget|time budget"):
            run()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("expression", [AMPLIFIER, CATASTROPHIC])
def test_session_refuses_a_hostile_marked_value_before_sending(mgr: CredentialManager, expression: str) -> None:
    mgr.create_connection(TENANT, "httpHeaderAuth", "h", {"name": "X", "value": expression, "$expressions": ["value"]})
    with ApiServer(lambda r: (200, {}, {})) as api, mgr.session(TENANT, "h") as s:
        peak = _peak(lambda: s.get(api.url))
        assert api.received == []
    assert peak < 64 * 2**20


@pytest.mark.timeout(60)
def test_a_hostile_scope_cannot_exhaust_the_refresh(mgr: CredentialManager) -> None:
    with SandboxProvider() as sandbox:
        data = {**sandbox.oauth2_data(scope=AMPLIFIER), "$expressions": ["scope"],
                "oauthTokenData": sandbox.issue_tokens()}
        mgr.create_connection(TENANT, "oAuth2Api", "o", data)
        peak = _peak(lambda: mgr.refresh_connection(TENANT, "o"))
        assert sandbox.token_requests == {}  # nothing was sent
    assert peak < 64 * 2**20
