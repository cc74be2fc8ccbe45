"""The connection name is bound into the ciphertext (envelope v2); v1 envelopes still decrypt and are upgraded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import DecryptionError
from fluxnex.storage.crypto import ENVELOPE_VERSION, Keyring, associated_data, generate_key_line
from fluxnex.storage.rotation import rotate_keys
from fluxnex.storage.store import connection_table
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.uuid4()
KEYS = generate_key_line("k1")


@pytest.fixture
def mgr(store_url: str) -> Iterator[CredentialManager]:
    manager = CredentialManager(store_url, KEYS)
    manager.create_connection(TENANT, "httpHeaderAuth", "a", {"name": "X-A", "value": "secret-of-a"})
    manager.create_connection(TENANT, "httpHeaderAuth", "b", {"name": "X-B", "value": "secret-of-b"})
    yield manager
    manager.close()


def _swap_names(mgr: CredentialManager, first: str, second: str) -> None:
    """What someone with write access to the table could do: exchange two rows' names."""
    T = connection_table
    with mgr.store.engine.begin() as conn:
        conn.execute(T.update().where(T.c.name == first).values(name="__swap__"))
        conn.execute(T.update().where(T.c.name == second).values(name=first))
        conn.execute(T.update().where(T.c.name == "__swap__").values(name=second))


def test_rows_whose_names_were_swapped_do_not_decrypt(mgr: CredentialManager) -> None:
    assert mgr.store.get(TENANT, "a").data["v"] == ENVELOPE_VERSION == 2  # type: ignore[union-attr]
    _swap_names(mgr, "a", "b")
    with pytest.raises(DecryptionError, match=r"connection 'a' .* moved from another connection or name"):
        mgr.get_connection(TENANT, "a")  # before: returned b's credentials under a's name
    with pytest.raises(DecryptionError):
        mgr.get_connection(TENANT, "b")


def test_a_rename_re_encrypts_under_the_new_name(mgr: CredentialManager) -> None:
    before = mgr.store.get(TENANT, "a")
    mgr.update_connection(TENANT, "a", new_name="renamed")
    after = mgr.store.get(TENANT, "renamed")
    assert before is not None and after is not None and after.data["ct"] != before.data["ct"]
    assert mgr.get_connection(TENANT, "renamed")["value"] == "secret-of-a"
    T = connection_table
    with mgr.store.engine.begin() as conn:  # putting the old name back by hand makes the row unreadable
        conn.execute(T.update().where(T.c.name == "renamed").values(name="a"))
    with pytest.raises(DecryptionError):
        mgr.get_connection(TENANT, "a")


def _downgrade_to_v1(mgr: CredentialManager, name: str, data: dict[str, str]) -> None:
    row = mgr.store.get(TENANT, name)
    assert row is not None
    v1 = mgr.keyring.encrypt(json.dumps(data).encode(), associated_data(row.tenant_id, row.id, row.type))
    assert v1["v"] == 1 and mgr.store.update_cas(row.id, row.version, data=v1) is not None


def test_v1_envelopes_decrypt_and_are_upgraded_on_the_next_write(mgr: CredentialManager) -> None:
    _downgrade_to_v1(mgr, "a", {"name": "X-A", "value": "old-a"})
    assert mgr.get_connection(TENANT, "a")["value"] == "old-a"
    mgr.update_connection(TENANT, "a", {"name": "X-A", "value": "new-a"})
    assert mgr.store.get(TENANT, "a").data["v"] == 2  # type: ignore[union-attr]
    assert mgr.get_connection(TENANT, "a")["value"] == "new-a"


def test_keys_rotate_upgrades_v1_envelopes_already_under_the_primary(mgr: CredentialManager) -> None:
    _downgrade_to_v1(mgr, "b", {"name": "X-B", "value": "old-b"})
    result = rotate_keys(mgr.store, mgr.keyring)
    assert (result.rotated, result.skipped_already_primary) == (1, 1)
    assert {r.name: r.data["v"] for r in mgr.store.list()} == {"a": 2, "b": 2}
    assert mgr.get_connection(TENANT, "b")["value"] == "old-b"


def test_a_v2_envelope_is_not_accepted_as_v1(mgr: CredentialManager) -> None:
    row = mgr.store.get(TENANT, "a")
    assert row is not None
    relabelled = {**row.data, "v": 1}  # claiming the older, weaker binding does not help
    with pytest.raises(DecryptionError):
        Keyring.parse(KEYS).decrypt(relabelled, associated_data(row.tenant_id, row.id, row.type), what="a")
    T = connection_table
    with mgr.store.engine.begin() as conn:
        conn.execute(T.update().where(T.c.id == row.id).values(data=relabelled))
    with pytest.raises(DecryptionError):
        mgr.get_connection(TENANT, "a")

