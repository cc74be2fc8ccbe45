"""Read-only commands on the embedded SQLite database start without SQLAlchemy or Alembic (SQLiteReader)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fluxnex import CredentialManager
from fluxnex.storage.crypto import generate_key_line
from fluxnex.storage.store import ConnectionStore, SQLiteReader, Status, connection_table, head_revision
from fluxnex.storage.store._rows import COLUMN_NAMES
from fluxnex.storage.store._schema_check import fast_head_revision

TENANT = uuid.UUID("11111111-2222-3333-4444-555555555555")
HEAVY = ("sqlalchemy", "alembic", "requests", "oauthlib")


def test_the_fast_head_and_columns_agree_with_alembic_and_the_table() -> None:
    assert fast_head_revision() == head_revision()
    assert tuple(c.name for c in connection_table.columns) == COLUMN_NAMES


def test_the_reader_returns_what_the_store_returns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    mgr = CredentialManager(url, generate_key_line("k1"))
    mgr.create_connection(TENANT, "revenovaApi", "b", {"accessToken": "tok-12345678"})
    mgr.create_connection(TENANT, "oAuth2Api", "a", {"clientId": "c", "clientSecret": "s",
                                                     "authUrl": "https://a.example/a",
                                                     "accessTokenUrl": "https://a.example/t",
                                                     "oauthTokenData": {"access_token": "x", "expires_in": 60,
                                                                        "refresh_token_expires_in": 86400}})
    mgr.create_connection(uuid.uuid4(), "revenovaApi", "other", {"accessToken": "tok-12345678"})
    mgr.close()
    store, reader = ConnectionStore(url), SQLiteReader.open(url)
    assert reader is not None and reader.revision == head_revision()
    try:
        assert reader.list(TENANT) == store.list(TENANT) and len(reader.list()) == 3
        assert reader.list(TENANT, type="oAuth2Api") == store.list(TENANT, type="oAuth2Api")
        assert reader.list(TENANT, status="ACTIVE") == store.list(TENANT, status=Status.ACTIVE)
        row = store.get(TENANT, "a")
        assert row is not None and row.refresh_expires_at is not None
        assert reader.get(TENANT, "a") == row and reader.get_by_id(row.id) == row
        assert reader.get(TENANT, "missing") is None
        assert reader.count_by_status() == store.count_by_status()
    finally:
        reader.close()
        store.dispose()


def test_no_reader_for_a_new_or_older_database_or_other_urls(tmp_path: Path) -> None:
    assert SQLiteReader.open(f"sqlite:///{tmp_path / 'new.sqlite'}") is None  # not created yet
    assert SQLiteReader.open(f"sqlite:///{tmp_path / 'x.sqlite'}?timeout=5") is None
    assert SQLiteReader.open("postgresql+psycopg://u@127.0.0.1/db") is None
    (tmp_path / "empty.sqlite").write_bytes(b"")
    assert SQLiteReader.open(f"sqlite:///{tmp_path / 'empty.sqlite'}") is None  # no alembic_version: migrate


def test_writes_after_fast_reads_go_through_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    keys = generate_key_line("k1")
    CredentialManager(url, keys).close()  # migrates
    mgr = CredentialManager(url, keys)
    assert mgr.list_connections(TENANT) == [] and isinstance(mgr.reads, SQLiteReader)
    mgr.create_connection(TENANT, "revenovaApi", "r", {"accessToken": "tok-12345678"})
    assert isinstance(mgr.reads, ConnectionStore)
    assert [i.name for i in mgr.list_connections(TENANT)] == ["r"]
    mgr.close()


@pytest.mark.parametrize("command", [
    ["connections", "list", "--tenant", str(TENANT)],
    ["connections", "show", "--tenant", str(TENANT), "r"],
    ["status"],
])
def test_read_commands_on_the_embedded_default_import_no_heavy_library(tmp_path: Path, command: list[str]) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}, "FLUXNEX_HOME": str(tmp_path)}
    subprocess.run(["fluxnex", "connections", "add", "--tenant", str(TENANT), "--type", "revenovaApi", "--name",
                    "r", "--data", "-"], input='{"accessToken": "tok-12345678"}', text=True, env=env, check=True,
                   capture_output=True)
    script = ("import sys\nfrom fluxnex.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED=", out
