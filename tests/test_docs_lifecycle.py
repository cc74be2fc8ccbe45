"""docs/operations.md states the figures the code uses: pool size and timeout, due fraction, deadline, lease."""

from __future__ import annotations

import inspect
from pathlib import Path

from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle._http import CONNECT_TIMEOUT, DEFAULT_HTTP_TIMEOUT
from fluxnex.lifecycle.refresh_write import RETRY_FOR, WRITE_ATTEMPTS
from fluxnex.lifecycle.tokens import HANDOVER_MARGIN, REFRESH_FRACTION
from fluxnex.storage.store import DEFAULT_POOL_SIZE, DEFAULT_POOL_TIMEOUT

OPERATIONS = " ".join((Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text().split())


def test_operations_doc_states_the_figures_in_force() -> None:
    lease = inspect.signature(CredentialManager).parameters["lease_seconds"].default
    assert f"`FLUXNEX_DB_POOL_SIZE` (default **{DEFAULT_POOL_SIZE}**" in OPERATIONS
    assert f"`FLUXNEX_DB_POOL_TIMEOUT` seconds (default {DEFAULT_POOL_TIMEOUT:g})" in OPERATIONS
    assert f"below {REFRESH_FRACTION:.0%} of its own lifetime" in OPERATIONS
    assert f"(default {DEFAULT_HTTP_TIMEOUT:g} s; the connect at most {CONNECT_TIMEOUT:g} s)" in OPERATIONS
    assert f"The lease ({lease:g} s) is renewed every {lease / 3:g} s" in OPERATIONS
    assert f"(after {['no', 'one', 'two', 'three'][WRITE_ATTEMPTS]} attempts with backoff)" in OPERATIONS
    assert f"(at most {RETRY_FOR / 60:g} minutes)" in OPERATIONS
    margin = f"only while it lives at least {HANDOVER_MARGIN:g} s more (`fluxnex.lifecycle.tokens.HANDOVER_MARGIN`)"
    assert margin in OPERATIONS
