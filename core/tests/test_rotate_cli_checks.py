"""``fluxnex keys rotate``'s checks: key ids the keyring lacks stop it before anything is rewritten (counted in
the database, nothing decrypted); a row that fails to decrypt under a known key stops the pass there, the batches
before it rotated; ``--check-first`` decrypts every row before rewriting any."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fluxnex.api.manager import CredentialManager
from fluxnex.cli import cli
from fluxnex.storage.crypto import Keyring, associated_data, generate_key_line
from fluxnex.storage.key_fingerprints import unknown_key_problem
from fluxnex.storage.store import ConnectionRow, ConnectionStore
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.uuid4()
K1 = generate_key_line("k1")
K2 = generate_key_line("k2")
DATA = {"name": "X-Api-Key", "value": "v-secret"}


@pytest.fixture
def filled(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CredentialManager]:
    """25 connections under k1; the CLI configured for this database with the keyring k2 (primary), k1."""
    mgr = CredentialManager(store_url, K1)
    for i in range(25):
        mgr.create_connection(TENANT, "httpHeaderAuth", f"c{i:02d}", DATA)
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", store_url)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", f"{K2},{K1}")
    yield mgr
    mgr.close()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _tamper(store: ConnectionStore, position: int) -> ConnectionRow:
    """Give the row at ``position`` in rotation order another row's envelope: same kid, authentication fails."""
    rows = store.data_after(None, 25)
    bad, donor = rows[position], rows[position + 1]
    assert store.update_cas(bad.id, bad.version, data=donor.data) is not None
    row = store.get_by_id(bad.id)
    assert row is not None
    return row


def _kids(store: ConnectionStore) -> list[str]:
    return sorted(row.data["kid"] for row in store.list())


def test_unknown_key_problem_names_one_row_and_counts_the_others(store: ConnectionStore) -> None:
    lost_line = generate_key_line("lost")
    tenant = uuid.uuid4()
    for i, ring in enumerate([Keyring.parse(lost_line)] * 3 + [Keyring.parse(K1)] * 2):
        cid = uuid.uuid4()
        env = ring.encrypt(b"{}", associated_data(tenant, cid, "t"))
        store.insert(ConnectionRow(id=cid, tenant_id=tenant, type="t", name=f"c{i}", data=env))
    problem = unknown_key_problem(store, Keyring.parse(f"{K2},{K1}"))
    assert problem is not None
    assert problem.startswith("cannot decrypt connection 'c") and problem.endswith(
        "key 'lost' is not in the keyring (and 2 more)"
    )
    assert unknown_key_problem(store, Keyring.parse(f"{K2},{K1},{lost_line}")) is None


def test_a_row_failing_authentication_stops_the_rotation_with_the_batches_before_it_rotated(
    filled: CredentialManager,
) -> None:
    bad = _tamper(filled.store, 15)  # in the second batch of 10
    code, _, err = _run("keys", "rotate", "--batch-size", "10")
    assert code == 1 and err.strip().splitlines()[-1].startswith("Error: rotation stopped: ")  # after the bar
    assert f"rotation stopped: cannot decrypt connection {bad.name!r} (id {bad.id}) with key 'k1'" in err
    assert "10 connection(s) were rotated before it" in err
    assert _kids(filled.store) == ["k1"] * 15 + ["k2"] * 10
    assert filled.store.get_by_id(bad.id) == bad  # untouched: repair or delete it, then run again
    assert filled.store.delete_by_id(bad.id)
    code, out, _ = _run("keys", "rotate", "--batch-size", "10")
    assert code == 0 and "Rotated 14 connection(s) to key 'k2'; 10 already under it" in out


def test_check_first_decrypts_every_row_before_rewriting_any(filled: CredentialManager) -> None:
    bad = _tamper(filled.store, 15)
    before = {row.id: row.data for row in filled.store.list()}
    code, _, err = _run("keys", "rotate", "--batch-size", "10", "--check-first")
    assert code == 1 and err.strip().count("\n") == 0
    assert f"nothing rotated: cannot decrypt connection {bad.name!r} (id {bad.id}) with key 'k1'" in err
    assert {row.id: row.data for row in filled.store.list()} == before
    assert filled.store.delete_by_id(bad.id)
    code, out, _ = _run("keys", "rotate", "--check-first")
    assert code == 0 and "Rotated 24 connection(s) to key 'k2'" in out
