"""Tests of ConnectionStore on SQLite and PostgreSQL: uniqueness, CAS, leases, claims, no plaintext at rest."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from pathlib import Path

import pytest
from fluxnex.contract.errors import ConnectionExists
from fluxnex.storage.crypto import Keyring, associated_data
from fluxnex.storage.store import ConnectionRow, ConnectionStore, Status
from sqlalchemy.engine import make_url
from store_fixtures import *  # noqa: F403 - fixtures
from store_fixtures import pg_conninfo

UTC = dt.UTC
NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def make_row(
    keyring: Keyring, tenant: uuid.UUID, name: str, payload: dict[str, object] | None = None, **kw: object
) -> ConnectionRow:
    cid = uuid.uuid4()
    plaintext = json.dumps(payload or {"token": f"tok-{name}"}).encode()
    env = keyring.encrypt(plaintext, associated_data(tenant, cid, "oAuth2Api"))
    return ConnectionRow(id=cid, tenant_id=tenant, type="oAuth2Api", name=name, data=env, **kw)  # type: ignore[arg-type]


def test_insert_get_roundtrip(store: ConnectionStore, keyring: Keyring) -> None:
    tenant = uuid.uuid4()
    offset = dt.timezone(dt.timedelta(hours=2))
    row = make_row(keyring, tenant, "crm", expires_at=dt.datetime(2030, 1, 1, 14, 0, tzinfo=offset))
    stored = store.insert(row)
    got = store.get(tenant, "crm")
    assert got == stored and got is not None
    assert got.version == 1 and got.status is Status.ACTIVE
    assert got.expires_at == NOW and got.expires_at.tzinfo is not None and got.expires_at.utcoffset() == dt.timedelta(0)
    assert got.created_at is not None and got.created_at.tzinfo is not None
    assert store.get_by_id(row.id) == got
    plain = keyring.decrypt(got.data, associated_data(tenant, got.id, got.type), what="crm")
    assert json.loads(plain) == {"token": "tok-crm"}
    assert store.get(tenant, "other") is None and store.get(uuid.uuid4(), "crm") is None
    assert store.get_by_id(uuid.uuid4()) is None
    assert "tok-crm" not in repr(got)


def test_duplicate_name_and_tenants(store: ConnectionStore, keyring: Keyring) -> None:
    t1, t2 = uuid.uuid4(), uuid.uuid4()
    first = store.insert(make_row(keyring, t1, "crm", {"token": "first"}))
    with pytest.raises(ConnectionExists, match="'crm' already exists"):
        store.insert(make_row(keyring, t1, "crm", {"token": "second"}))
    assert store.get(t1, "crm") == first
    assert len(store.list(tenant_id=t1)) == 1
    other = store.insert(make_row(keyring, t2, "crm"))
    assert store.get(t2, "crm") == other and other.id != first.id


def test_update_cas(store: ConnectionStore, keyring: Keyring) -> None:
    tenant = uuid.uuid4()
    row = store.insert(make_row(keyring, tenant, "a"))
    store.insert(make_row(keyring, tenant, "b"))
    updated = store.update_cas(row.id, 1, status="ERROR", last_error="HTTP 503", expires_at=NOW)
    assert updated is not None and updated.version == 2 and updated.status is Status.ERROR
    assert updated.last_error == "HTTP 503" and updated.expires_at == NOW
    assert store.update_cas(row.id, 1, status="ACTIVE") is None  # stale version: no write
    assert store.get(tenant, "a") == updated
    with pytest.raises(ConnectionExists):
        store.update_cas(row.id, 2, name="b")
    assert store.get(tenant, "a") == updated
    renamed = store.update_cas(row.id, 2, name="c")
    assert renamed is not None and store.get(tenant, "c") == renamed and store.get(tenant, "a") is None
    with pytest.raises(TypeError, match="cannot change"):
        store.update_cas(row.id, 3, version=9)


def test_list_count_delete_and_pagination(store: ConnectionStore, keyring: Keyring) -> None:
    t1, t2 = uuid.uuid4(), uuid.uuid4()
    rows = [store.insert(make_row(keyring, t1 if i % 2 else t2, f"n{i}")) for i in range(7)]
    store.update_cas(rows[0].id, 1, status=Status.EXPIRED)
    assert [r.name for r in store.list(tenant_id=t1)] == ["n1", "n3", "n5"]
    assert [r.name for r in store.list(status="EXPIRED")] == ["n0"]
    assert len(store.list(type="oAuth2Api")) == 7 and store.list(type="nope") == []
    assert store.count_by_status() == {Status.ACTIVE: 6, Status.ERROR: 0, Status.EXPIRED: 1, Status.NOT_CONNECTED: 0}
    seen, last = [], None
    while batch := store.iter_rows_after(last, 3):
        seen += [r.id for r in batch]
        last = batch[-1].id
    assert seen == sorted(r.id for r in rows)
    assert [r.id for r in store.iter_all(batch_size=2)] == seen
    assert store.delete(t1, "n1") is True and store.delete(t1, "n1") is False
    assert store.get(t1, "n1") is None
    assert store.delete_by_id(rows[2].id, expected_version=5) is False
    assert store.delete_by_id(rows[2].id) is True


def test_leases(store: ConnectionStore, keyring: Keyring) -> None:
    tenant = uuid.uuid4()
    row = store.insert(make_row(keyring, tenant, "a"))
    held = store.acquire_lease(row.id, "w1", 30, now=NOW)
    assert held is not None and held.lease_owner == "w1" and held.version == 1  # leases don't bump version
    assert held.lease_until == NOW + dt.timedelta(seconds=30)
    assert store.acquire_lease(row.id, "w2", 30, now=NOW + dt.timedelta(seconds=10)) is None
    assert store.acquire_lease(row.id, "w1", 60, now=NOW) is not None  # re-entrant for the owner
    assert store.release_lease(row.id, "w2") is False
    # w2 takes over once w1's lease has lapsed; w1's late completion must not overwrite anything.
    taken = store.acquire_lease(row.id, "w2", 30, now=NOW + dt.timedelta(seconds=61))
    assert taken is not None and taken.lease_owner == "w2"
    new_env = keyring.encrypt(b'{"token": "w2"}', associated_data(tenant, row.id, row.type))
    assert store.complete_lease(row.id, "w1", 1, data={"stale": True}) is None
    assert store.complete_lease(row.id, "w2", 0, data={"stale": True}) is None  # not at the version read
    done = store.complete_lease(row.id, "w2", 1, data=new_env, last_refreshed_at=NOW, refresh_failures=0)
    assert done is not None and done.version == 2 and done.lease_owner is None and done.data == new_env
    assert store.get(tenant, "a") == done
    assert store.acquire_lease(row.id, "w3", 30) is not None
    assert store.release_lease(row.id, "w3") is True
    after = store.get_by_id(row.id)
    assert after is not None and after.lease_owner is None and after.version == 2


def test_claim_due_filters_and_order(store: ConnectionStore, keyring: Keyring) -> None:
    tenant = uuid.uuid4()
    soon = store.insert(make_row(keyring, tenant, "soon", expires_at=NOW + dt.timedelta(minutes=1)))
    sooner = store.insert(make_row(keyring, tenant, "sooner", expires_at=NOW - dt.timedelta(minutes=1)))
    errored = store.insert(make_row(keyring, tenant, "err", expires_at=NOW + dt.timedelta(minutes=2)))
    store.update_cas(errored.id, 1, status="ERROR")
    store.insert(make_row(keyring, tenant, "late", expires_at=NOW + dt.timedelta(hours=2)))
    store.insert(make_row(keyring, tenant, "never"))
    dead = store.insert(make_row(keyring, tenant, "dead", expires_at=NOW))
    store.update_cas(dead.id, 1, status="EXPIRED")
    backoff = store.insert(make_row(keyring, tenant, "backoff", expires_at=NOW))
    store.update_cas(backoff.id, 1, next_attempt_at=NOW + dt.timedelta(seconds=30))
    leased = store.insert(make_row(keyring, tenant, "leased", expires_at=NOW))
    store.acquire_lease(leased.id, "other", 300, now=NOW)

    horizon = NOW + dt.timedelta(minutes=5)
    claimed = store.claim_due(horizon_until=horizon, owner="me", lease_seconds=60, limit=10, now=NOW)
    assert [r.name for r in claimed] == ["sooner", "soon", "err"]
    assert all(r.lease_owner == "me" and r.lease_until == NOW + dt.timedelta(seconds=60) for r in claimed)
    assert store.claim_due(horizon_until=horizon, owner="you", lease_seconds=60, limit=10, now=NOW) == []
    later = NOW + dt.timedelta(seconds=61)
    again = store.claim_due(horizon_until=horizon, owner="you", lease_seconds=60, limit=2, now=later)
    assert [r.name for r in again] == ["sooner", "backoff"]
    assert {soon.id, sooner.id} & {r.id for r in again} == {sooner.id}


def test_claim_due_two_threads_never_double_claim(store: ConnectionStore, keyring: Keyring) -> None:
    tenant = uuid.uuid4()
    ids = {store.insert(make_row(keyring, tenant, f"c{i}", expires_at=NOW)).id for i in range(40)}
    claims: dict[str, list[uuid.UUID]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def worker(owner: str) -> None:
        barrier.wait()
        while batch := store.claim_due(horizon_until=NOW, owner=owner, lease_seconds=600, limit=3, now=NOW):
            claims[owner] += [r.id for r in batch]

    threads = [threading.Thread(target=worker, args=(o,)) for o in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claims["a"]) & set(claims["b"])
    assert sorted(claims["a"] + claims["b"]) == sorted(ids)


def test_raw_database_holds_no_plaintext(store: ConnectionStore, store_url: str, keyring: Keyring) -> None:
    tenant = uuid.uuid4()
    secrets = [f"PLAINTEXT-SECRET-{i}-{uuid.uuid4().hex}" for i in range(5)]
    for i, secret in enumerate(secrets):
        row = store.insert(make_row(keyring, tenant, f"s{i}", {"clientSecret": secret, "accessToken": secret}))
        store.update_cas(row.id, 1, last_error="HTTP 400 invalid_grant")
    assert (
        json.loads(keyring.decrypt(row.data, associated_data(tenant, row.id, row.type), what="s"))["clientSecret"]
        == secrets[-1]
    )
    if store_url.startswith("sqlite"):
        db = Path(make_url(store_url).database or "")
        blobs = [p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name)]
        assert any(p.name.endswith("-wal") for p in db.parent.iterdir())
        dump = b"".join(blobs)
        assert b"s0" in dump  # the file really holds the rows
    else:
        import psycopg

        with psycopg.connect(pg_conninfo(store_url)) as conn:
            dump = "\n".join(str(r) for r in conn.execute("SELECT * FROM connection")).encode()
        assert b"s0" in dump
    for secret in secrets:
        assert secret.encode() not in dump
        assert b"PLAINTEXT-SECRET" not in dump


def test_second_store_on_same_database(store: ConnectionStore, store_url: str, keyring: Keyring) -> None:
    tenant = uuid.uuid4()
    other = ConnectionStore(store_url)
    try:
        row = other.insert(make_row(keyring, tenant, "shared"))
        assert store.get(tenant, "shared") == row
        assert other.update_cas(row.id, 1, refresh_failures=3) is not None
        got = store.get(tenant, "shared")
        assert got is not None and got.refresh_failures == 3 and got.version == 2
    finally:
        other.dispose()


def _claim_in_process(url: str, owner: str, out: object) -> None:
    store = ConnectionStore(url, migrate=False)
    got: list[str] = []
    try:
        while batch := store.claim_due(horizon_until=NOW, owner=owner, lease_seconds=600, limit=2, now=NOW):
            got += [str(r.id) for r in batch]
    finally:
        store.dispose()
    out.put(got)  # type: ignore[attr-defined]


def test_claim_due_two_processes_on_postgres(pg_schema_url: str, keyring: Keyring) -> None:
    import multiprocessing

    store = ConnectionStore(pg_schema_url)
    try:
        tenant = uuid.uuid4()
        ids = {str(store.insert(make_row(keyring, tenant, f"p{i}", expires_at=NOW)).id) for i in range(60)}
    finally:
        store.dispose()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_in_process, args=(pg_schema_url, f"proc{i}", queue)) for i in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert not set(results[0]) & set(results[1])
    assert sorted(results[0] + results[1]) == sorted(ids)
