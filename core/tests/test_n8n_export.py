"""``fluxnex export n8n``: a tenant's connections in the form ``n8n import:credentials`` reads, and back again.

Round trip: an n8n export imported into tenant A, exported (decrypted and encrypted), imported into tenants B and C
gives the same data; the exported entries equal what n8n exported, plus the token expiry FluxNex derived.
``tests/test_n8n_export_engine.py`` decrypts the encrypted form with n8n-core's own cipher.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from fluxnex.api.manager import CredentialManager
from fluxnex.api.n8n_export import export_n8n, read_n8n_key, write_export
from fluxnex.api.n8n_import import import_export
from fluxnex.contract.errors import FluxnexError
from fluxnex.n8n import decrypt_n8n
from fluxnex.n8n.expression_marks import EXPRESSIONS_KEY
from fluxnex.storage.crypto import generate_key_line

A, B, C = (uuid.UUID(f"00000000-0000-0000-0000-0000000000a{i}") for i in range(3))
N8N_KEY = "n8n-key-é-Ä-ß"

N8N_EXPORT: list[dict[str, Any]] = [
    {"id": "1", "name": "Mailchimp", "type": "mailchimpApi", "data": {"apiKey": "mc-123-us5"}},
    {"id": "2", "name": "QuickBooks", "type": "quickBooksOAuth2Api", "data": {
        "clientId": "qb-id", "clientSecret": "qb-secret", "environment": "sandbox",
        "oauthTokenData": {"access_token": "at", "refresh_token": "rt", "token_type": "bearer", "expires_in": 3600,
                           "callbackQueryString": {"realmId": "9130347", "code": "c", "state": "s"}}}},
    {"id": "3", "name": "Lab", "type": "gitlabOAuth2Api", "data": {
        "server": "https://git.example.com", "clientId": "={{ 'id-' + 'from-n8n' }}", "clientSecret": "s",
        "oauthTokenData": {"access_token": "at-1", "token_type": "bearer"}}},
    {"id": "4", "name": "Header", "type": "httpHeaderAuth", "data": {
        "name": "X-Api-Key", "value": "hv", "allowedHttpRequestDomains": "domains", "allowedDomains": "api.x.com"}},
]


def _stored(manager: CredentialManager, tenant: uuid.UUID) -> dict[str, dict[str, Any]]:
    out = {}
    for row in manager.store.list(tenant):
        data = manager.decrypt(row)
        out[row.name] = {k: (type(v).__name__, v) if isinstance(v, str) else v for k, v in data.items()}
    return out


def test_import_export_import_gives_the_same_data(manager: CredentialManager, tmp_path: Path) -> None:
    assert [i.name for i in import_export(manager, A, N8N_EXPORT).imported] == [e["name"] for e in N8N_EXPORT]
    # a connection made in FluxNex, with a literal password that looks like an n8n expression
    manager.create_connection(A, "httpBasicAuth", "Basic", {"user": "u", "password": "=MyPa55{{word}}"})
    with pytest.raises(FluxnexError) as info:
        export_n8n(manager, A)
    assert str(info.value) == (
        "cannot export to n8n: 'Basic' (password) hold literal values beginning with '=', which n8n always "
        "evaluates as expressions: change them, or leave those connections out with --skip-unexportable")
    assert "MyPa55" not in str(info.value)
    entries, items = export_n8n(manager, A, skip_unexportable=True)
    assert [e["name"] for e in entries] == ["Header", "Lab", "Mailchimp", "QuickBooks"]
    assert [(i.name, i.skipped) for i in items if i.skipped] == [
        ("Basic", "literal values beginning with '=' in password: n8n would evaluate them")]
    manager.delete_connection(A, "Basic")
    assert export_n8n(manager, A)[0] == entries
    for entry in entries:
        assert set(entry) == {"id", "name", "type", "data", "createdAt", "updatedAt", "isManaged"}
        assert uuid.UUID(entry["id"]) and entry["createdAt"].endswith("Z") and EXPRESSIONS_KEY not in entry["data"]
    by_name = {e["name"]: e["data"] for e in entries}
    # what n8n exported comes back as n8n had it (FluxNex adds the expiry it derived from expires_in)
    for original in N8N_EXPORT:
        exported = by_name[original["name"]]
        assert {k: exported[k] for k in original["data"] if k != "oauthTokenData"} == {
            k: v for k, v in original["data"].items() if k != "oauthTokenData"}
    token = dict(by_name["QuickBooks"]["oauthTokenData"])
    assert token["callbackQueryString"] == {"realmId": "9130347", "code": "c", "state": "s"}
    assert token.pop("expires_at") > 0 and token == N8N_EXPORT[1]["data"]["oauthTokenData"]

    path = tmp_path / "export.json"
    write_export(entries, path)
    assert path.stat().st_mode & 0o777 == 0o600
    report = import_export(manager, B, path)
    assert len(report.imported) == 4 and report.skipped == []
    first, second = _stored(manager, A), _stored(manager, B)
    assert first == second  # same values, the same ones marked as expressions
    assert first["Lab"]["clientId"] == ("Expression", "={{ 'id-' + 'from-n8n' }}")

    # n8n's encrypted form: every entry decrypts to the decrypted form, and imports the same
    encrypted, _ = export_n8n(manager, A, n8n_key=N8N_KEY)
    for plain, sealed in zip(entries, encrypted, strict=True):
        assert isinstance(sealed["data"], str) and sealed["data"] != json.dumps(plain["data"])
        assert decrypt_n8n(sealed["data"], N8N_KEY) == plain["data"]
        assert {k: v for k, v in sealed.items() if k != "data"} == {k: v for k, v in plain.items() if k != "data"}
    assert len(import_export(manager, C, encrypted, n8n_key=N8N_KEY).imported) == 4
    assert _stored(manager, C) == second


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["fluxnex", *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_cli_writes_secrets_only_to_the_file(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")},
           "FLUXNEX_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "FLUXNEX_ENCRYPTION_KEYS": generate_key_line("k1")}
    source = tmp_path / "n8n.json"
    source.write_text(json.dumps([N8N_EXPORT[3], {"id": "9", "name": "Token", "type": "httpBearerAuth",
                                                  "data": {"token": "secret-bearer-1"}}]))
    assert _cli(env, "import", "n8n", str(source), "--tenant", str(A)).returncode == 0
    out = tmp_path / "out.json"
    done = _cli(env, "export", "n8n", "--tenant", str(A), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert "secret-bearer-1" not in done.stdout + done.stderr and "hv" not in done.stdout.split()
    assert done.stdout.splitlines()[-1] == f"2 credentials written to {out} (decrypted: keep it safe and delete it " \
                                           "after use)"
    assert out.stat().st_mode & 0o777 == 0o600
    written = json.loads(out.read_text())
    assert {e["name"]: e["data"] for e in written}["Token"] == {"token": "secret-bearer-1"}

    again = _cli(env, "export", "n8n", "--tenant", str(A), "--output", str(out))
    assert again.returncode == 1 and again.stderr.strip() == (
        f"Error: {out} exists: choose another --output, or remove it first")
    assert json.loads(out.read_text()) == written  # untouched

    key_file = tmp_path / "config"
    key_file.write_text(json.dumps({"encryptionKey": N8N_KEY}))
    summary = _cli(env, "export", "n8n", "--tenant", str(A), "--output", str(tmp_path / "enc.json"),
                   "--encrypt-with-n8n-key", str(key_file), "--json")
    report = json.loads(summary.stdout)
    assert report["encrypted"] is True and report["count"] == 2 and "secret-bearer-1" not in summary.stdout
    sealed = json.loads((tmp_path / "enc.json").read_text())
    assert decrypt_n8n({e["name"]: e for e in sealed}["Token"]["data"], N8N_KEY) == {"token": "secret-bearer-1"}

    to_stdout = _cli(env, "export", "n8n", "--tenant", str(A), "--output", "-")
    assert [e["name"] for e in json.loads(to_stdout.stdout)] == ["Header", "Token"]

    mgr = CredentialManager(env["FLUXNEX_DATABASE_URL"], env["FLUXNEX_ENCRYPTION_KEYS"])
    try:
        mgr.create_connection(A, "httpBasicAuth", "Basic", {"user": "u", "password": "=looks-like-one"})
    finally:
        mgr.close()
    refused = _cli(env, "export", "n8n", "--tenant", str(A), "--output", str(tmp_path / "x.json"))
    assert refused.returncode == 1 and "--skip-unexportable" in refused.stderr and not (tmp_path / "x.json").exists()
    assert "looks-like-one" not in refused.stderr
    skipping = _cli(env, "export", "n8n", "--tenant", str(A), "--output", str(tmp_path / "x.json"),
                    "--skip-unexportable")
    assert skipping.returncode == 0 and skipping.stdout.splitlines()[-1].endswith("), 1 left out")
    assert [e["name"] for e in json.loads((tmp_path / "x.json").read_text())] == ["Header", "Token"]
    bad = _cli(env, "export", "n8n", "--tenant", "not-a-uuid", "--output", "-")
    assert bad.returncode == 1 and bad.stdout == "" and "not-a-uuid" in bad.stderr


def test_the_key_comes_from_a_value_or_a_file(tmp_path: Path) -> None:
    assert read_n8n_key("plain-key") == "plain-key"
    (tmp_path / "k").write_text("from-file\n")
    assert read_n8n_key(str(tmp_path / "k")) == "from-file"
    (tmp_path / "c").write_text(json.dumps({"encryptionKey": "from-config"}))
    assert read_n8n_key(str(tmp_path / "c")) == "from-config"
    (tmp_path / "e").write_text(json.dumps({"other": 1}))
    with pytest.raises(FluxnexError, match="without an encryptionKey"):
        read_n8n_key(str(tmp_path / "e"))
