"""Rotation stopped mid-way resumes; on PostgreSQL its batches commit asynchronously and its end is flushed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from fluxnex.storage.crypto import Keyring, associated_data, generate_key_line
from fluxnex.storage.key_fingerprints import check_all_readable
from fluxnex.storage.rotation import rotate_keys
from fluxnex.storage.store import ConnectionStore
from fluxnex.storage.store._scale import PG_READ_DATA, PG_SET_DATA
from store_fixtures import *  # noqa: F403 - fixtures
from test_store_rotation import _fill, _plain

OLD = generate_key_line("old")
NEW = generate_key_line("new")

# Rotates with batches of 10 and kills its own process (no cleanup, no exit handlers) after the second batch.
_KILLED_ROTATION = """
import os, signal, sys
from fluxnex.storage.crypto import Keyring
from fluxnex.storage.rotation import rotate_keys
from fluxnex.storage.store import ConnectionStore

def progress(step):
    if step.seen >= 20:
        os.kill(os.getpid(), signal.SIGKILL)

rotate_keys(ConnectionStore(sys.argv[1]), Keyring.parse(os.environ["KEYS"]), batch_size=10, progress=progress)
"""


def test_a_rotation_killed_mid_way_leaves_every_row_readable_and_resumes(store_url: str) -> None:
    store = ConnectionStore(store_url)
    try:
        secrets = _fill(store, Keyring.parse(OLD), 45)
        env = {**os.environ, "KEYS": f"{NEW},{OLD}"}
        done = subprocess.run([sys.executable, "-c", _KILLED_ROTATION, store_url], env=env, timeout=120, check=False)
        assert done.returncode == -signal.SIGKILL
        ring = Keyring.parse(f"{NEW},{OLD}")
        rows = store.list()
        kids = sorted(row.data["kid"] for row in rows)
        assert 20 <= kids.count("new") < 45  # the batches written before the kill, nothing of a batch after
        assert all(_plain(ring, row) == secrets[row.id] for row in rows)  # each row whole, under one key or the other
        result = rotate_keys(store, ring, batch_size=10)
        assert (result.rotated, result.skipped_already_primary) == (45 - kids.count("new"), kids.count("new"))
        new_only = Keyring.parse(NEW)
        assert all(row.data["kid"] == "new" and _plain(new_only, row) == secrets[row.id] for row in store.list())
    finally:
        store.dispose()


def test_the_readability_check_names_every_unreadable_row_across_batches(store_url: str) -> None:
    store = ConnectionStore(store_url)
    try:
        _fill(store, Keyring.parse(OLD), 25)
        lost_line = generate_key_line("lost")
        lost = Keyring.parse(lost_line)
        rows = store.data_after(None, 25)
        for bad in (rows[3], rows[17]):  # in the first and the second batch of 10
            envelope = lost.encrypt(b"{}", associated_data(bad.tenant_id, bad.id, "t"))
            assert store.update_cas(bad.id, bad.version, data=envelope) is not None
        problems = list(check_all_readable(store, Keyring.parse(f"{NEW},{OLD}"), batch_size=10))
        assert sorted(problems) == sorted(
            f"cannot decrypt connection {row.name!r} (id {row.id}): key 'lost' is not in the keyring"
            for row in (rows[3], rows[17])
        )
        with_lost = Keyring.parse(f"{NEW},{OLD},{lost_line}")
        assert list(check_all_readable(store, with_lost, batch_size=10)) == []
    finally:
        store.dispose()


def test_postgres_batches_commit_asynchronously_and_the_rotation_ends_flushed(
    pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch: its read in a transaction of its own, then its write in one that does not wait for the disk;
    before ``rotate_keys`` returns, a synchronous commit of a transaction with an id flushes the log."""
    store = ConnectionStore(pg_schema_url)
    try:
        _fill(store, Keyring.parse(OLD), 25)
        sent: list[str] = []
        execute = psycopg.Cursor.execute

        def spy(self: psycopg.Cursor[object], query: str, *args: object, **kwargs: object) -> object:
            if query != ";":  # the pool's liveness ping
                sent.append(query if isinstance(query, str) else repr(query))
            return execute(self, query, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(psycopg.Cursor, "execute", spy)
        assert rotate_keys(store, Keyring.parse(f"{NEW},{OLD}"), batch_size=10).rotated == 25
        monkeypatch.undo()
        writes = [i for i, q in enumerate(sent) if q == PG_SET_DATA]
        assert len(writes) == 3
        for i in writes:
            assert sent[i - 2 : i] == ["BEGIN", "SET LOCAL synchronous_commit = off"] and sent[i + 1] == "COMMIT"
        reads = [i for i, q in enumerate(sent) if q == PG_READ_DATA]
        assert len(reads) == 3
        for i in reads[1:]:  # the first one starts the pass; the others each go ahead of a write, on their own
            assert sent[i - 1] == "BEGIN" and sent[i + 1] == "COMMIT"
        assert sent[reads[2] + 2 : reads[2] + 4] == ["BEGIN", "SET LOCAL synchronous_commit = off"]
        assert sent[-1] == "SELECT pg_current_xact_id()" and writes[-1] < len(sent) - 1
        doc = " ".join((Path(__file__).parents[2] / "docs" / "operations.md").read_text().split())
        assert "`SET LOCAL synchronous_commit = off`" in doc and "one synchronous commit" in doc
    finally:
        store.dispose()
