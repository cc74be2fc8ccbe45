"""Import of ``n8n export:credentials`` output; the encrypted form is produced here, independently of FluxNex."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from click.testing import CliRunner
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fluxnex.api.manager import CredentialManager
from fluxnex.api.n8n_import import import_export
from fluxnex.cli import cli
from fluxnex.contract.errors import DecryptionError
from fluxnex.contract.plugins import reset_registry
from fluxnex.n8n import decrypt_n8n
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.n8n_catalog import catalog_path

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000b1")
N8N_KEY = "n8n-key-é-Ä-ß"  # non-ASCII: n8n uses one byte per character (Latin-1), not UTF-8


def _evp(password: bytes, salt: bytes) -> tuple[bytes, bytes]:
    out, block = b"", b""
    while len(out) < 48:
        block = hashlib.md5(block + password + salt).digest()
        out += block
    return out[:32], out[32:48]


def n8n_encrypt(data: dict[str, Any], key: str, salt: bytes | None = None) -> str:
    """What n8n's Cipher.encrypt produces: OpenSSL "Salted__" + salt + AES-256-CBC(PKCS7), base64."""
    salt = salt if salt is not None else os.urandom(8)
    secret, iv = _evp(key.encode("latin-1"), salt)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(data).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    return base64.b64encode(b"Salted__" + salt + encryptor.update(plain) + encryptor.finalize()).decode()


CREDENTIALS: list[dict[str, Any]] = [
    {"id": "1", "name": "Mailchimp", "type": "mailchimpApi", "data": {"apiKey": "mc-123-us5"}},
    {"id": "2", "name": "QuickBooks", "type": "quickBooksOAuth2Api", "data": {
        "clientId": "qb-id", "clientSecret": "qb-secret", "environment": "sandbox",
        "oauthTokenData": {"access_token": "at", "refresh_token": "rt", "token_type": "bearer",
                           "callbackQueryString": {"realmId": "9130347", "code": "c", "state": "s"}}}},
    {"id": "3", "name": "Header", "type": "httpHeaderAuth", "data": {"name": "X-Api-Key", "value": "hv"}},
    {"id": "4", "name": "Mystery", "type": "noSuchTypeApi", "data": {"token": "x"}},
    {"id": "5", "name": "Bad", "type": "strapiTokenApi", "data": {"apiToken": "t", "url": "u", "apiVersion": "v9"}},
]


def _export(key: str | None) -> list[dict[str, Any]]:
    out = []
    for entry in CREDENTIALS:
        copy = {**entry, "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-01T00:00:00.000Z"}
        if key is not None:
            copy["data"] = n8n_encrypt(entry["data"], key)
        out.append(copy)
    return out


def _check_report(report: Any) -> None:
    assert [i.name for i in report.imported] == ["Mailchimp", "QuickBooks", "Header"]
    skipped = {i.name: (i.outcome, i.reason) for i in report.skipped}
    assert skipped["Mystery"][0] == "unknown type" and "noSuchTypeApi" in skipped["Mystery"][1]
    assert skipped["Bad"][0] == "invalid data" and "apiVersion" in skipped["Bad"][1]


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "decrypted"])
def test_round_trip(manager: CredentialManager, tmp_path: Path, encrypted: bool) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_export(N8N_KEY if encrypted else None)))
    report = import_export(manager, TENANT, path, n8n_key=N8N_KEY if encrypted else None)
    _check_report(report)
    for entry in CREDENTIALS[:3]:
        got = manager.get_connection(TENANT, entry["name"])
        assert {k: got[k] for k in entry["data"]} == entry["data"]
    quickbooks = manager.get_connection(TENANT, "QuickBooks")
    assert quickbooks["oauthTokenData"]["callbackQueryString"]["realmId"] == "9130347"
    stored = manager.store.get(TENANT, "Mailchimp")
    assert stored is not None and "mc-123-us5" not in json.dumps(stored.data)  # encrypted under FluxNex's keys
    assert stored.data["kid"] == "k1"


def test_rerun_does_not_duplicate_and_a_taken_name_is_reported(manager: CredentialManager) -> None:
    export = _export(N8N_KEY)
    import_export(manager, TENANT, export, n8n_key=N8N_KEY)
    again = import_export(manager, TENANT, export, n8n_key=N8N_KEY)
    assert again.imported == []
    assert {i.name: i.outcome for i in again.skipped} == {
        "Mailchimp": "already imported", "QuickBooks": "already imported", "Header": "already imported",
        "Mystery": "unknown type", "Bad": "invalid data"}
    assert len(manager.list_connections(TENANT)) == 3
    changed = [{**CREDENTIALS[0], "data": {"apiKey": "other"}}]
    [item] = import_export(manager, TENANT, changed).skipped
    assert item.outcome == "name taken" and "other" not in item.reason


def test_wrong_key_is_one_error_and_imports_nothing(manager: CredentialManager) -> None:
    with pytest.raises(DecryptionError) as info:
        import_export(manager, TENANT, _export(N8N_KEY), n8n_key="wrong key")
    assert "wrong key" in str(info.value) and "mc-123" not in str(info.value)
    assert manager.list_connections(TENANT) == []
    with pytest.raises(DecryptionError, match="N8N_ENCRYPTION_KEY"):
        import_export(manager, TENANT, _export(N8N_KEY), n8n_key="")


def test_utf8_encoding_of_the_key_would_not_decrypt() -> None:
    token = n8n_encrypt({"a": 1}, N8N_KEY)
    assert decrypt_n8n(token, N8N_KEY) == {"a": 1}
    wrong = base64.b64decode(token)
    secret, _iv = _evp(N8N_KEY.encode("utf-8"), wrong[8:16])
    assert secret != _evp(N8N_KEY.encode("latin-1"), wrong[8:16])[0]


def test_wrong_key_with_valid_padding_is_still_rejected() -> None:
    """About 1 wrong key in 256 decrypts to valid padding: the JSON check must catch it."""
    token = n8n_encrypt({"apiKey": "k"}, "right", salt=b"12345678")
    raw = base64.b64decode(token)
    for attempt in range(5000):
        key = f"wrong-{attempt}"
        secret, iv = _evp(key.encode(), raw[8:16])
        plain = Cipher(algorithms.AES(secret), modes.CBC(iv)).decryptor().update(raw[16:])
        if plain[-1] == 1:  # valid PKCS7 padding of length 1
            with pytest.raises(DecryptionError):
                decrypt_n8n(token, key)
            return
    pytest.fail("no wrong key with valid padding found")


def test_cli_imports_with_the_catalog_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_export(N8N_KEY)))
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite")
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", generate_key_line("k1"))
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    monkeypatch.setenv("FLUXNEX_LOAD_PLUGINS", "")
    monkeypatch.setenv("N8N_ENCRYPTION_KEY", N8N_KEY)
    reset_registry()
    try:
        result = CliRunner().invoke(cli, ["import", "n8n", str(path), "--tenant", str(TENANT), "--json"])
        assert result.exit_code == 1, result.output  # two entries were skipped (unknown type, invalid data)
        report = json.loads(result.output)
        assert [i["name"] for i in report["imported"]] == ["Mailchimp", "QuickBooks", "Header"]
        table = CliRunner().invoke(cli, ["import", "n8n", str(path), "--tenant", str(TENANT)])
        assert "0 imported, 5 skipped" in table.output and "already imported" in table.output
        assert table.exit_code == 1
        good = tmp_path / "good.json"
        good.write_text(json.dumps(_export(N8N_KEY)[:3]))
        rerun = CliRunner().invoke(cli, ["import", "n8n", str(good), "--tenant", str(TENANT)])
        assert rerun.exit_code == 0 and "0 imported, 3 skipped" in rerun.output  # already imported is no failure
    finally:
        reset_registry()


def test_imported_expressions_and_type_defaults_keep_n8ns_rule_and_user_literals_do_not(
    manager: CredentialManager,
) -> None:
    from fluxnex import Expression, Literal
    from fluxnex.n8n.expression_marks import to_stored

    export = [{"name": "Lab", "type": "gitlabOAuth2Api", "data": {
        "server": "https://git.example.com", "clientId": "={{ 'id-' + 'from-n8n' }}", "clientSecret": "s",
        "oauthTokenData": {"access_token": "at-1", "token_type": "bearer"}}}]
    report = import_export(manager, TENANT, export)
    assert [i.name for i in report.imported] == ["Lab"]
    stored = manager.get_connection(TENANT, "Lab")
    assert isinstance(stored["clientId"], Expression) and isinstance(stored["authUrl"], Expression)
    ct = manager.credential_type("gitlabOAuth2Api")
    effective = ct.effective_data(stored)
    assert effective["clientId"] == "id-from-n8n"  # imported: n8n's rule
    assert effective["authUrl"] == "https://git.example.com/oauth/authorize"  # the type's default: n8n's rule
    manager.update_connection(TENANT, "Lab", {**stored, "clientSecret": "=not{{an}}expression"})
    again = manager.get_connection(TENANT, "Lab")
    assert isinstance(again["clientId"], Expression) and isinstance(again["clientSecret"], Literal)
    assert ct.effective_data(again)["clientSecret"] == "=not{{an}}expression"  # typed by a user: literal
    assert to_stored({"x": "={{ 1 }}"})["$expressions"] == []  # a value that lost its type is stored literal
