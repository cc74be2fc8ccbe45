"""CredentialManager under faults: secrets never leak, concurrent writers lose nothing, tampering is caught."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import ConcurrentUpdateError, ConnectionExpired, DecryptionError, FluxnexError
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import DEFAULT_CLIENT_SECRET, SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data, pg_conninfo, run_update_processes
from sqlalchemy.engine import make_url

HEADER_SECRET = "hdr-7c0a1f3b9e55d2"


def raw_database_text(mgr: CredentialManager) -> str:
    """Everything the database holds: SQLite file bytes (with -wal and -shm), or PostgreSQL rows via psycopg."""
    url = make_url(mgr.database_url)
    if url.get_backend_name() == "sqlite":
        base = Path(str(url.database))
        blobs = [p.read_bytes() for p in (base, Path(f"{base}-wal"), Path(f"{base}-shm")) if p.exists()]
        return b"".join(blobs).decode("latin-1")
    import psycopg

    with psycopg.connect(pg_conninfo(mgr.database_url)) as conn:
        return repr(conn.execute("SELECT * FROM connection").fetchall())


def test_secrets_never_reach_the_database_logs_messages_or_repr(
    make_manager: Any, sandbox: SandboxProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mgr = make_manager()
    tenant = uuid.uuid4()
    secrets: list[str] = [HEADER_SECRET, DEFAULT_CLIENT_SECRET]
    mgr.create_connection(tenant, "httpHeaderAuth", "hdr", {"name": "X-Key", "value": HEADER_SECRET})
    data = oauth_data(sandbox, expires_in=1)
    secrets += [data["oauthTokenData"]["access_token"], data["oauthTokenData"]["refresh_token"]]
    mgr.create_connection(tenant, "oAuth2Api", "oa", data)
    fresh = mgr.get_connection(tenant, "oa")["oauthTokenData"]  # refreshes (expires within the leeway)
    secrets += [fresh["access_token"], fresh["refresh_token"]]
    assert fresh["access_token"] != data["oauthTokenData"]["access_token"]
    again = mgr.refresh_connection(tenant, "oa")["oauthTokenData"]
    secrets += [again["access_token"], again["refresh_token"]]
    mgr.get_connection(tenant, "hdr")
    mgr.update_connection(tenant, "hdr", data={"name": "X-Key", "value": HEADER_SECRET + "-2"})
    messages: list[str] = []
    sandbox.fail_next("invalid_grant")
    with pytest.raises(ConnectionExpired) as expired:
        mgr.refresh_connection(tenant, "oa")
    messages.append(str(expired.value))
    with pytest.raises(FluxnexError) as missing:
        mgr.get_connection(tenant, "nope")
    messages.append(str(missing.value))

    stored = raw_database_text(mgr)
    logged = caplog.text + "".join(repr(r.args) + str(r.msg) for r in caplog.records)
    shown = " ".join([repr(mgr), repr(mgr.store), repr(mgr.keyring), *messages])
    assert caplog.records, "the cycle logs something at DEBUG"
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
        assert secret not in shown
    assert mgr.keyring.kids[0] in repr(mgr)


def test_concurrent_updates_from_threads_lose_nothing(make_manager: Any) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "httpHeaderAuth", "c", {"name": "X-Key", "value": "v0"})
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def writer(w: int) -> None:
        barrier.wait()
        for i in range(6):
            try:
                mgr.update_connection(tenant, "c", data={"name": "X-Key", "value": f"t{w}-{i}"})
                result = f"t{w}-{i}"
            except ConcurrentUpdateError:
                result = "conflict"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written = [o for o in outcomes if o != "conflict"]
    row = mgr.store.get(tenant, "c")
    assert row is not None
    assert row.version == 1 + len(written)  # every successful update is one version, none overwritten unseen
    assert mgr.get_connection(tenant, "c")["value"] in written
    assert len(written) >= 8  # the CAS loop retries: most writers get through


def test_concurrent_updates_from_processes_lose_nothing(make_manager: Any, keys: str) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "httpHeaderAuth", "c", {"name": "X-Key", "value": "v0"})
    results = run_update_processes(mgr.database_url, keys, tenant, "c", writers=3, count=15)
    successes = sum(ok for ok, _ in results)
    assert sum(ok + conflicts for ok, conflicts in results) == 45
    row = mgr.store.get(tenant, "c")
    assert row is not None and row.version == 1 + successes
    assert successes >= 15


def test_update_keeps_a_token_refreshed_concurrently(make_manager: Any, sandbox: SandboxProvider) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "oAuth2Api", "oa", oauth_data(sandbox))
    stop = threading.Event()
    errors: list[BaseException] = []

    def updater() -> None:
        while not stop.is_set():
            try:
                mgr.update_connection(tenant, "oa", data=sandbox.oauth2_data(scope="a b"))
            except ConcurrentUpdateError:
                pass
            except BaseException as exc:
                errors.append(exc)
                return

    t = threading.Thread(target=updater)
    t.start()
    try:
        for _ in range(5):
            mgr.refresh_connection(tenant, "oa")
    finally:
        stop.set()
        t.join()
    assert not errors
    token = mgr.get_connection(tenant, "oa")["oauthTokenData"]
    # the stored token is the newest the provider issued: usable, and its refresh token is unspent
    assert sandbox.is_active(token["access_token"]) and sandbox.is_active(token["refresh_token"])


def test_tampering_and_wrong_keys_are_clear_errors(make_manager: Any, keys: str) -> None:
    mgr = make_manager()
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, "httpHeaderAuth", "a", {"name": "H", "value": HEADER_SECRET})
    mgr.create_connection(tenant, "httpHeaderAuth", "b", {"name": "H", "value": "other"})
    a, b = mgr.store.get(tenant, "a"), mgr.store.get(tenant, "b")
    assert a is not None and b is not None
    assert mgr.store.update_cas(b.id, b.version, data=a.data) is not None  # ciphertext moved to another row
    with pytest.raises(DecryptionError, match="'b'") as moved:
        mgr.get_connection(tenant, "b")
    assert HEADER_SECRET not in str(moved.value)
    other = make_manager(keys=generate_key_line("k2"))
    with pytest.raises(DecryptionError, match="k1"):
        other.get_connection(tenant, "a")
    rotated = make_manager(keys=generate_key_line("k2") + "," + keys)  # old key still decrypts
    assert rotated.get_connection(tenant, "a")["value"] == HEADER_SECRET
