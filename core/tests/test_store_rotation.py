"""Tests of key rotation: correctness, resumability, conflicts and a concurrent writer."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from fluxnex.contract.errors import DecryptionError
from fluxnex.storage.crypto import Keyring, RowBinding, associated_data, generate_key_line
from fluxnex.storage.rotation import RotationProgress, rotate_keys
from fluxnex.storage.store import ConnectionRow, ConnectionStore
from store_fixtures import *  # noqa: F403 - fixtures

OLD = generate_key_line("old")
NEW = generate_key_line("new")


def _fill(store: ConnectionStore, ring: Keyring, n: int) -> dict[uuid.UUID, str]:
    tenant = uuid.uuid4()
    secrets: dict[uuid.UUID, str] = {}
    for i in range(n):
        cid = uuid.uuid4()
        secrets[cid] = f"secret-{i}"
        env = ring.encrypt(json.dumps({"s": secrets[cid]}).encode(), associated_data(tenant, cid, "t"))
        store.insert(ConnectionRow(id=cid, tenant_id=tenant, type="t", name=f"c{i}", data=env))
    return secrets


def _plain(ring: Keyring, row: ConnectionRow) -> str:
    binding = RowBinding(row.tenant_id, row.id, row.type, row.name)  # rotation writes name-bound envelopes
    value: str = json.loads(ring.decrypt(row.data, binding, what="r"))["s"]
    return value


def test_rotation_reencrypts_everything_and_is_resumable(store: ConnectionStore) -> None:
    secrets = _fill(store, Keyring.parse(OLD), 25)
    ring = Keyring.parse(f"{NEW},{OLD}")
    calls: list[RotationProgress] = []

    def interrupt(p: RotationProgress) -> None:
        calls.append(p)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_keys(store, ring, batch_size=10, progress=interrupt)
    assert calls[0].result.rotated == 10 and calls[0].seen == 10
    result = rotate_keys(store, ring, batch_size=10)
    assert (result.rotated, result.skipped_already_primary, result.conflicts_retried) == (15, 10, 0)
    new_only = Keyring.parse(NEW)
    for row in store.list():
        assert row.data["kid"] == "new" and row.version == 2
        assert _plain(new_only, row) == secrets[row.id]
    again = rotate_keys(store, ring, batch_size=10)
    assert (again.rotated, again.skipped_already_primary) == (0, 25)


def test_rotation_names_an_undecryptable_row(store: ConnectionStore) -> None:
    _fill(store, Keyring.parse(generate_key_line("lost")), 2)
    with pytest.raises(DecryptionError, match=r"connection 'c\d' \(id .*key 'lost' is not in the keyring"):
        rotate_keys(store, Keyring.parse(NEW))


def test_batch_write_detects_conflicts(store: ConnectionStore) -> None:
    _fill(store, Keyring.parse(OLD), 4)
    rows = store.list()
    store.update_cas(rows[1].id, 1, last_error="changed")
    assert store.delete_by_id(rows[3].id)
    texts = {r.id: f'{{"v":1,"kid":"x","n":"{i}","ct":""}}' for i, r in enumerate(rows)}
    conflicts = store.write_data_batch([(r.id, 1, texts[r.id]) for r in rows])
    assert conflicts == [rows[1].id, rows[3].id]  # moved, deleted: in the batch's order
    assert [(r.version, r.last_error) for r in store.list()] == [(2, None), (2, "changed"), (2, None)]
    assert [r.data == json.loads(texts[r.id]) for r in store.list()] == [True, False, True]


def test_batch_write_finds_conflicts_past_the_lookup_chunk(store: ConnectionStore) -> None:
    """A batch of more ids than one conflict lookup binds (SQLite: 500 a statement) still names its conflict."""
    _fill(store, Keyring.parse(OLD), 1_050)
    rows = store.list()
    store.update_cas(rows[-1].id, 1, last_error="changed")
    conflicts = store.write_data_batch([(r.id, 1, f'{{"v":1,"kid":"x","n":"{i}","ct":""}}')
                                        for i, r in enumerate(rows)])
    assert conflicts == [rows[-1].id]


def test_rotation_with_a_concurrent_writer(store: ConnectionStore) -> None:
    old = Keyring.parse(OLD)
    secrets = _fill(store, old, 60)
    ring = Keyring.parse(f"{NEW},{OLD}")
    stop = threading.Event()
    written: dict[uuid.UUID, str] = {}

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            for row in store.list()[n % 3 :: 7]:
                secret = f"rewritten-{n}"
                key = ring if n % 2 else old  # the writer may still run with the old keyring
                env = key.encrypt(json.dumps({"s": secret}).encode(), associated_data(row.tenant_id, row.id, "t"))
                if store.update_cas(row.id, row.version, data=env) is not None:
                    written[row.id] = secret
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = rotate_keys(store, ring, batch_size=7)
    finally:
        stop.set()
        thread.join()
    rotate_keys(store, ring, batch_size=7)  # rows the old-keyring writer wrote after their batch
    assert result.rotated + result.skipped_already_primary >= 60
    for row in store.list():
        assert row.data["kid"] == "new"
        assert _plain(Keyring.parse(NEW), row) == written.get(row.id, secrets[row.id])


@pytest.mark.parametrize("pool_size", [1, 2])
def test_rotation_within_a_small_pool_retries_its_conflicts(store_url: str, pool_size: int) -> None:
    """One pooled connection is enough: a batch in flight gives its connections back before anything else runs."""
    small = ConnectionStore(store_url, pool_size=pool_size, pool_timeout=5)
    try:
        old = Keyring.parse(OLD)
        secrets = _fill(small, old, 25)
        ring = Keyring.parse(f"{NEW},{OLD}")
        target = small.data_after(None, 20)[15]  # in the second batch: read, re-encrypted, not yet written
        env = old.encrypt(json.dumps({"s": "changed"}).encode(), associated_data(target.tenant_id, target.id, "t"))
        calls: list[RotationProgress] = []

        def change_once(p: RotationProgress) -> None:
            if not calls:  # borrows a connection from the pool while the rotation runs
                assert small.update_cas(target.id, target.version, data=env) is not None
            calls.append(p)

        result = rotate_keys(small, ring, batch_size=10, progress=change_once)
        assert [p.seen for p in calls] == [10, 20, 25]
        assert (result.rotated, result.conflicts_retried) == (25, 1)
        new_only = Keyring.parse(NEW)
        for row in small.list():
            assert row.data["kid"] == "new"
            assert _plain(new_only, row) == ("changed" if row.id == target.id else secrets[row.id])
    finally:
        small.dispose()


def test_an_undecryptable_row_mid_rotation_keeps_the_batch_in_flight(store_url: str) -> None:
    """The batch being written when a later row fails to decrypt is still committed; its connection returns."""
    small = ConnectionStore(store_url, pool_size=1, pool_timeout=5)
    try:
        _fill(small, Keyring.parse(OLD), 25)
        lost = Keyring.parse(generate_key_line("lost"))
        bad = small.data_after(None, 20)[15]  # second batch: read while the first is written
        small.update_cas(bad.id, bad.version, data=lost.encrypt(b"{}", associated_data(bad.tenant_id, bad.id, "t")))
        calls: list[RotationProgress] = []
        with pytest.raises(DecryptionError, match=r"key 'lost' is not in the keyring"):
            rotate_keys(small, Keyring.parse(f"{NEW},{OLD}"), batch_size=10, progress=calls.append)
        kids = [row.data["kid"] for row in small.list()]  # the pool's one connection is free again
        assert kids.count("new") == 10
        assert [(p.seen, p.result.rotated) for p in calls] == [(10, 10)]  # reported before the error is raised
    finally:
        small.dispose()
