"""Keys cannot silently change: fingerprints recorded per kid, refused keyrings, key files and database files
that only their owner can read, the embedded default never regenerating a key over existing rows."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fluxnex.api.manager import CredentialManager
from fluxnex.cli import cli
from fluxnex.contract.errors import ConfigurationError, DecryptionError, KeyMismatch
from fluxnex.storage import config
from fluxnex.storage.crypto import Keyring, associated_data, generate_key_line
from fluxnex.storage.key_fingerprints import recorded_fingerprints, rows_per_kid
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.uuid4()
K1 = generate_key_line("k1")
K1_OTHER = generate_key_line("k1")
K2 = generate_key_line("k2")
DATA = {"name": "X-Api-Key", "value": "v-secret"}


@pytest.fixture
def managers(store_url: str) -> Iterator[list[CredentialManager]]:
    made: list[CredentialManager] = []
    yield made
    for mgr in made:
        mgr.close()


def _mgr(url: str, keys: str, made: list[CredentialManager]) -> CredentialManager:
    mgr = CredentialManager(url, keys)
    made.append(mgr)
    return mgr


def _count(mgr: CredentialManager) -> int:
    return len(mgr.store.list())


def test_first_use_records_a_fingerprint_not_the_key(store_url: str, managers: list[CredentialManager]) -> None:
    mgr = _mgr(store_url, K1, managers)  # recorded when the manager is created: a write later needs no query
    mgr.create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    recorded = recorded_fingerprints(mgr.store)
    assert recorded == {"k1": mgr.keyring.fingerprint("k1")}
    key_text = K1.split(":", 1)[1]
    assert key_text not in json.dumps(recorded) and len(recorded["k1"]) == 32
    assert Keyring.parse(K1_OTHER).fingerprint("k1") != recorded["k1"]


def test_a_changed_key_for_a_known_kid_refuses_to_write(store_url: str, managers: list[CredentialManager]) -> None:
    _mgr(store_url, K1, managers).create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    wrong = _mgr(store_url, K1_OTHER, managers)
    with pytest.raises(KeyMismatch, match="encryption key 'k1' is not the key this database recorded") as info:
        wrong.create_connection(TENANT, "httpHeaderAuth", "b", DATA)
    assert "\n" not in str(info.value) and K1_OTHER.split(":")[1] not in str(info.value)
    with pytest.raises((KeyMismatch, DecryptionError)):  # reading the row with the wrong key fails first
        wrong.update_connection(TENANT, "a", new_name="renamed")
    assert [r.name for r in wrong.store.list()] == ["a"]


def test_a_foreign_primary_refuses_to_write_where_rows_exist(store_url: str,
                                                             managers: list[CredentialManager]) -> None:
    _mgr(store_url, K1, managers).create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    foreign = _mgr(store_url, K2, managers)
    with pytest.raises(KeyMismatch, match=r"primary encryption key 'k2' is unknown to this database, which holds 1"):
        foreign.create_connection(TENANT, "httpHeaderAuth", "b", DATA)
    assert _count(foreign) == 1 and "k2" not in recorded_fingerprints(foreign.store)


def test_a_new_primary_in_front_of_the_recorded_key_is_a_rotation(store_url: str,
                                                                 managers: list[CredentialManager]) -> None:
    _mgr(store_url, K1, managers).create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    rotating = _mgr(store_url, f"{K2},{K1}", managers)
    rotating.create_connection(TENANT, "httpHeaderAuth", "b", DATA)
    assert set(recorded_fingerprints(rotating.store)) == {"k1", "k2"}
    assert rows_per_kid(rotating.store) == {"k1": 1, "k2": 1}


def test_a_database_from_before_fingerprints_records_only_a_key_that_decrypts(
    store_url: str, managers: list[CredentialManager]
) -> None:
    first = _mgr(store_url, K1, managers)
    first.create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    with first.store.engine.begin() as conn:  # as a database migrated from 0002 looks: rows, no fingerprints
        conn.execute(sa.text("DELETE FROM key_fingerprint"))
    with pytest.raises(KeyMismatch, match="encryption key 'k1' does not decrypt connection 'a'"):
        _mgr(store_url, K1_OTHER, managers).create_connection(TENANT, "httpHeaderAuth", "b", DATA)
    assert recorded_fingerprints(first.store) == {}
    _mgr(store_url, K1, managers).create_connection(TENANT, "httpHeaderAuth", "b", DATA)
    assert set(recorded_fingerprints(first.store)) == {"k1"}


# -- configuration ----------------------------------------------------------------------------------------


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("FLUXNEX_DATABASE_URL", "FLUXNEX_ENCRYPTION_KEYS", "FLUXNEX_ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLUXNEX_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_embedded_default_files_are_private(home: Path) -> None:
    mgr = CredentialManager()
    try:
        mgr.create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    finally:
        mgr.close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("fluxnex.db", "fluxnex.key"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    for extra in home.glob("fluxnex.db-*"):  # WAL and shared-memory files inherit the database's mode
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra.name


def test_a_deleted_key_file_is_not_regenerated_over_existing_rows(home: Path) -> None:
    mgr = CredentialManager()
    mgr.create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    mgr.close()
    (home / "fluxnex.key").unlink()
    with pytest.raises(ConfigurationError, match=r"key file .* is missing but the database .* holds 1 connection"):
        CredentialManager()
    assert not (home / "fluxnex.key").exists()


def test_empty_key_variables_are_errors(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", "  ")
    with pytest.raises(ConfigurationError, match="FLUXNEX_ENCRYPTION_KEYS is set but empty"):
        config.load_keyring(config.database_url())
    monkeypatch.delenv("FLUXNEX_ENCRYPTION_KEYS")
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEY_FILE", "")
    with pytest.raises(ConfigurationError, match="FLUXNEX_ENCRYPTION_KEY_FILE is set but empty"):
        config.load_keyring(config.database_url())
    assert not (home / "fluxnex.key").exists()  # no silent fall-back to the embedded key file


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused_with_the_chmod(tmp_path: Path, mode: int,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(K1 + "\n")
    key_file.chmod(mode)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEY_FILE", str(key_file))
    with pytest.raises(ConfigurationError, match=rf"\(mode {mode:04o}\): run `chmod 600 {key_file}`"):
        config.load_keyring("postgresql+psycopg://h/db")
    key_file.chmod(0o600)
    assert config.load_keyring("postgresql+psycopg://h/db").kids == ("k1",)


def test_an_explicit_sqlite_file_is_created_private(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir(mode=0o755)  # an explicit URL's directory must exist (the embedded default makes its own)
    mgr = CredentialManager(f"sqlite:///{tmp_path}/dir/db.sqlite", K1)
    mgr.close()
    assert stat.S_IMODE((tmp_path / "dir" / "db.sqlite").stat().st_mode) == 0o600


def test_the_embedded_default_directory_and_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("FLUXNEX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLUXNEX_HOME", str(tmp_path / "home" / "fluxnex"))
    CredentialManager().close()
    home = tmp_path / "home" / "fluxnex"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "fluxnex.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "fluxnex.key").stat().st_mode) == 0o600


# -- CLI: status and rotate -------------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_status_shows_rows_per_kid_and_flags_missing_kids(store_url: str, monkeypatch: pytest.MonkeyPatch,
                                                         managers: list[CredentialManager]) -> None:
    _mgr(store_url, K1, managers).create_connection(TENANT, "httpHeaderAuth", "a", DATA)
    _mgr(store_url, f"{K2},{K1}", managers).create_connection(TENANT, "httpHeaderAuth", "b", DATA)
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", store_url)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", K2)
    code, out, _ = _run("status")  # from the fingerprint table alone: flags, no counts
    assert code == 0 and "MISSING k1: recorded in the database under a key the keyring lacks" in out
    code, out, _ = _run("status", "--keys")
    assert code == 0 and "  k2: 1 connection(s)" in out
    assert "MISSING k1: 1 connection(s) under a key the keyring lacks cannot be decrypted" in out
    code, out, _ = _run("status", "--keys", "--json")
    keys = json.loads(out)["keys"]
    assert keys["k1"] == {"rows": 1, "in_keyring": False, "fingerprint": "recorded"}
    assert keys["k2"] == {"rows": 1, "in_keyring": True, "fingerprint": "matches"}
    code, out, _ = _run("status", "--json")
    assert json.loads(out)["keys"]["k1"] == {"rows": None, "in_keyring": False, "fingerprint": "recorded"}
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", f"{K2},{K1_OTHER}")  # k1's key swapped for another
    code, out, _ = _run("status")
    assert code == 0 and "CHANGED k1: recorded in the database; this key is not the one the database recorded" in out


def test_rotate_checks_every_row_before_rewriting_any(store_url: str, monkeypatch: pytest.MonkeyPatch,
                                                      managers: list[CredentialManager]) -> None:
    mgr = _mgr(store_url, K1, managers)
    for name in ("a", "b", "c"):
        mgr.create_connection(TENANT, "httpHeaderAuth", name, DATA)
    stranger = Keyring.parse(generate_key_line("lost"))
    row = mgr.store.get(TENANT, "c")
    assert row is not None
    envelope = stranger.encrypt(b"{}", associated_data(row.tenant_id, row.id, row.type))
    assert mgr.store.update_cas(row.id, row.version, data=envelope) is not None
    before = {r.id: r.data for r in mgr.store.list()}
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", store_url)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", f"{K2},{K1}")
    code, _, err = _run("keys", "rotate")
    assert code == 1 and "nothing rotated: cannot decrypt connection 'c'" in err and "'lost'" in err
    assert err.strip().count("\n") == 0
    assert {r.id: r.data for r in mgr.store.list()} == before


