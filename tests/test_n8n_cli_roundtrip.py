"""Round trips through the real n8n command line (n8n 2.41.3, installed by ``n8n_cli_support``, on PostgreSQL).

1. FluxNex connections of several kinds -> ``fluxnex export n8n`` (decrypted, and ``--encrypt-with-n8n-key``
   with the instance's own ``config`` file) -> ``n8n import:credentials`` -> ``n8n export:credentials
   --decrypted``: n8n holds exactly what FluxNex exported, and ``fluxnex import n8n`` of that gives the data
   FluxNex had.
2. n8n's own export (encrypted, its default form) -> ``fluxnex import n8n --n8n-key`` -> the data that went
   into n8n; ``fluxnex export n8n`` -> n8n -> ``fluxnex import n8n`` again gives the same data.

n8n runs on a database the fixture creates and drops (its SQLite driver is native and not built by an
``--ignore-scripts`` install); without FLUXNEX_TEST_POSTGRES_URL the module skips, with it set but the server
unreachable it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.n8n.expression_marks import EXPRESSIONS_KEY
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.n8n_catalog import catalog_path
from n8n_cli_support import INSTALL_TIMEOUT, N8N_VERSION, n8n_cli_dir
from sqlalchemy.engine import make_url

PG_ENV = "FLUXNEX_TEST_POSTGRES_URL"
N8N_KEY = "n8n-instance-key-0123456789abcdef"
pytestmark = [pytest.mark.n8n_engine, pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 900)]

#: FluxNex connections: (type, name, data as given to FluxNex). Names and values carry non-ASCII text.
CONNECTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("mailchimpApi", "Mailchimp Zürich ✓", {"apiKey": "mc-ключ-🔑-us5"}),
    ("gitlabOAuth2Api", "GitLab", {
        "server": "https://git.example.com", "clientId": "={{ 'gl-' + 'id' }}", "clientSecret": "gl-sécret",
        EXPRESSIONS_KEY: ["clientId"],
        "oauthTokenData": {"access_token": "gl-at", "refresh_token": "gl-rt", "token_type": "bearer",
                           "expires_in": 7200, "scope": "api read_user"}}),
    ("quickBooksOAuth2Api", "QuickBooks", {
        "clientId": "qb-id", "clientSecret": "qb-secret", "environment": "sandbox",
        "oauthTokenData": {"access_token": "qb-at", "refresh_token": "qb-rt", "token_type": "bearer",
                           "expires_in": 3600, "x_refresh_token_expires_in": 8726400,
                           "callbackQueryString": {"realmId": "9130347596", "state": "s", "code": "c"}}}),
    ("aws", "AWS", {"region": "eu-central-1", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "aws/sec+ret=="}),
    ("oAuth1Api", "OAuth1 ünïcode", {
        "consumerKey": "ck", "consumerSecret": "cs", "signatureMethod": "HMAC-SHA1",
        "requestTokenUrl": "https://api.example.com/oauth/request_token",
        "authUrl": "https://api.example.com/oauth/authorize",
        "accessTokenUrl": "https://api.example.com/oauth/access_token",
        "oauthTokenData": {"oauth_token": "ot", "oauth_token_secret": "ots-ß"}}),
]

#: What an n8n user made in n8n itself (the decrypted form ``n8n import:credentials`` reads).
N8N_MADE: list[dict[str, Any]] = [
    {"id": "n8nMadeMailchimp01", "name": "Mailchimp (n8n) é", "type": "mailchimpApi",
     "data": {"apiKey": "n8n-mc-ü-123"}},
    {"id": "n8nMadeQuickBooks1", "name": "QuickBooks (n8n)", "type": "quickBooksOAuth2Api", "data": {
        "clientId": "n8n-qb", "clientSecret": "n8n-qb-s", "environment": "production",
        "oauthTokenData": {"access_token": "n8n-qb-at", "refresh_token": "n8n-qb-rt", "token_type": "bearer",
                           "expires_in": 3600, "callbackQueryString": {"realmId": "4620816365", "state": "x"}}}},
    {"id": "n8nMadeHeaderAuth1", "name": "Header (n8n)", "type": "httpHeaderAuth", "data": {
        "name": "X-Api-Key", "value": "={{ 'hv-' + 'ñ' }}", "allowedHttpRequestDomains": "domains",
        "allowedDomains": "api.example.com"}},
]


class N8n:
    """The n8n command line of one instance (its own database, user folder and encryption key)."""

    def __init__(self, install: Path, env: dict[str, str], home: Path) -> None:
        self.install, self.env, self.home = install, env, home
        self.config = home / ".n8n" / "config"  # n8n writes {"encryptionKey": ...} here on its first start

    def run(self, *args: str) -> str:
        done = subprocess.run([str(self.install / "bin" / "node"), str(self.install / "node_modules/n8n/bin/n8n"),
                               *args], cwd=self.home, env=self.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"n8n {' '.join(args)} exited {done.returncode}: " \
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"  # n8n reports some errors on stdout
        return done.stdout

    def import_file(self, path: Path, count: int) -> None:
        noun = "credential" if count == 1 else "credentials"
        assert f"Successfully imported {count} {noun}." in self.run("import:credentials", f"--input={path}")

    def export(self, path: Path, *, decrypted: bool) -> dict[str, dict[str, Any]]:
        self.run("export:credentials", "--all", f"--output={path}", *(["--decrypted"] if decrypted else []))
        return {e["id"]: e for e in json.loads(path.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def n8n(tmp_path_factory: pytest.TempPathFactory) -> Iterator[N8n]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: the real n8n CLI needs PostgreSQL (its SQLite driver is native and "
                    "not built by the --ignore-scripts install)")
    import psycopg

    url = make_url(base)
    admin_url = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    database = f"fluxnex_n8n_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:  # fails, not skips, when unreachable
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        install = n8n_cli_dir()
        home = tmp_path_factory.mktemp("n8n-home")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "N8N_USER_FOLDER": str(home),
               "N8N_ENCRYPTION_KEY": N8N_KEY, "DB_TYPE": "postgresdb", "DB_POSTGRESDB_DATABASE": database,
               "DB_POSTGRESDB_HOST": url.host or "127.0.0.1", "DB_POSTGRESDB_PORT": str(url.port or 5432),
               "DB_POSTGRESDB_USER": url.username or "postgres", "DB_POSTGRESDB_PASSWORD": url.password or "",
               "N8N_DIAGNOSTICS_ENABLED": "false", "N8N_VERSION_NOTIFICATIONS_ENABLED": "false"}
        instance = N8n(install, env, home)
        instance.run("list:workflow")  # the first start: n8n's migrations, and its config file with the key
        assert json.loads(instance.config.read_text())["encryptionKey"] == N8N_KEY
        yield instance
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class FluxNex:
    """The ``fluxnex`` command line on a SQLite store of its own, with n8n's catalog; ``manager`` reads it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("FLUXNEX_", "N8N_"))},
                    "FLUXNEX_DATABASE_URL": f"sqlite:///{folder}/fluxnex.db",
                    "FLUXNEX_ENCRYPTION_KEYS": generate_key_line("k1"), "FLUXNEX_N8N_CATALOG": str(catalog_path())}

    def run(self, *args: str) -> str:
        done = subprocess.run(["fluxnex", *args], env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"fluxnex {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return done.stdout

    def data(self, tenant: uuid.UUID) -> dict[str, tuple[str, str, dict[str, Any]]]:
        """name -> (connection id, type, decrypted data with each string's kind: Expression, Literal or str)."""
        mgr = CredentialManager(self.env["FLUXNEX_DATABASE_URL"], self.env["FLUXNEX_ENCRYPTION_KEYS"])
        try:
            return {row.name: (str(row.id), row.type, {
                k: (type(v).__name__, v) if isinstance(v, str) else v for k, v in mgr.decrypt(row).items()})
                for row in mgr.store.list(tenant)}
        finally:
            mgr.close()


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """Stored data as a FluxNex import makes it from n8n's form (the expiry it derives depends on the clock)."""
    out = dict(data)
    if isinstance(out.get("oauthTokenData"), dict):
        out["oauthTokenData"] = {k: v for k, v in out["oauthTokenData"].items() if k != "expires_at"}
    return out


def _add_connections(flux: FluxNex, tenant: uuid.UUID) -> None:
    for type_name, name, data in CONNECTIONS:
        path = flux.folder / f"add-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        flux.run("connections", "add", "--tenant", str(tenant), "--type", type_name, "--name", name,
                 "--data", str(path), "--no-input")


@pytest.mark.parametrize("encrypted", [False, True], ids=["decrypted", "encrypt-with-n8n-key"])
def test_fluxnex_export_is_what_n8n_imports(n8n: N8n, tmp_path: Path, encrypted: bool) -> None:
    flux, tenant, back = FluxNex(tmp_path), uuid.uuid4(), uuid.uuid4()
    _add_connections(flux, tenant)
    had = flux.data(tenant)
    assert {name: v[2]["oauthTokenData"]["callbackQueryString"]["realmId"] for name, v in had.items()
            if v[1] == "quickBooksOAuth2Api"} == {"QuickBooks": "9130347596"}
    out = tmp_path / "to-n8n.json"
    if encrypted:
        flux.run("export", "n8n", "--tenant", str(tenant), "--output", str(out), "--encrypt-with-n8n-key",
                 str(n8n.config))
    else:
        flux.run("export", "n8n", "--tenant", str(tenant), "--output", str(out))
    sent = {e["id"]: e for e in json.loads(out.read_text(encoding="utf-8"))}
    assert all(isinstance(e["data"], str) == encrypted for e in sent.values())
    n8n.import_file(out, len(CONNECTIONS))

    held = n8n.export(tmp_path / "from-n8n.json", decrypted=True)
    assert set(sent) <= set(held)
    for id_, (type_name, name, data) in {v[0]: (v[1], k, v[2]) for k, v in had.items()}.items():
        entry = held[id_]
        assert (entry["name"], entry["type"]) == (name, type_name)
        # n8n keeps the exported data as it is: the marks list goes, marked values stay as n8n expressions
        assert entry["data"] == {k: v[1] if isinstance(v, tuple) else v for k, v in data.items()
                                 if k != EXPRESSIONS_KEY}
    assert held[had["QuickBooks"][0]]["data"]["oauthTokenData"]["callbackQueryString"]["realmId"] == "9130347596"

    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps([held[i] for i in sent], ensure_ascii=False), encoding="utf-8")
    flux.run("import", "n8n", str(mine), "--tenant", str(back))
    again = flux.data(back)
    assert {k: (v[1], _comparable(v[2])) for k, v in again.items()} == {
        k: (v[1], _comparable(v[2])) for k, v in had.items()}
    # the expiry FluxNex derived went to n8n and came back unchanged
    assert again["GitLab"][2]["oauthTokenData"]["expires_at"] == had["GitLab"][2]["oauthTokenData"]["expires_at"]


def test_n8n_export_imports_and_goes_back_unchanged(n8n: N8n, tmp_path: Path) -> None:
    flux, first, second = FluxNex(tmp_path), uuid.uuid4(), uuid.uuid4()
    made = tmp_path / "made-in-n8n.json"
    made.write_text(json.dumps(N8N_MADE, ensure_ascii=False), encoding="utf-8")
    n8n.import_file(made, len(N8N_MADE))
    exported = n8n.export(tmp_path / "n8n-export.json", decrypted=False)  # n8n's default: encrypted
    ours = [exported[e["id"]] for e in N8N_MADE]
    assert all(e["data"].startswith("U2FsdGVkX1") for e in ours)  # OpenSSL "Salted__", base64
    encrypted = tmp_path / "n8n-encrypted.json"
    encrypted.write_text(json.dumps(ours, ensure_ascii=False), encoding="utf-8")

    flux.run("import", "n8n", str(encrypted), "--tenant", str(first), "--n8n-key", N8N_KEY)
    had = flux.data(first)
    for entry in N8N_MADE:
        type_name, data = had[entry["name"]][1:]
        assert type_name == entry["type"]
        plain = {k: v[1] if isinstance(v, tuple) else v for k, v in _comparable(data).items()}
        # every value n8n held, unchanged (FluxNex fills in the type's defaults for the fields n8n left out)
        assert {k: plain.get(k) for k in entry["data"]} == entry["data"]
        # values beginning with '=' are imported as n8n expressions, every other string as a plain value
        assert {k: data[k][0] for k, v in entry["data"].items() if isinstance(v, str)} == {
            k: "Expression" if v.startswith("=") else "str" for k, v in entry["data"].items() if isinstance(v, str)}
    assert had["Header (n8n)"][2]["value"] == ("Expression", "={{ 'hv-' + 'ñ' }}")
    assert had["QuickBooks (n8n)"][2]["oauthTokenData"]["callbackQueryString"]["realmId"] == "4620816365"

    back = tmp_path / "back-to-n8n.json"
    flux.run("export", "n8n", "--tenant", str(first), "--output", str(back), "--encrypt-with-n8n-key", N8N_KEY)
    n8n.import_file(back, len(N8N_MADE))
    held = n8n.export(tmp_path / "n8n-export-2.json", decrypted=False)
    returned = [held[v[0]] for v in had.values()]
    again = tmp_path / "n8n-again.json"
    again.write_text(json.dumps(returned, ensure_ascii=False), encoding="utf-8")
    flux.run("import", "n8n", str(again), "--tenant", str(second), "--n8n-key", N8N_KEY)
    assert {k: (v[1], v[2]) for k, v in flux.data(second).items()} == {k: (v[1], v[2]) for k, v in had.items()}


def test_the_install_is_the_pinned_n8n() -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set: nothing here runs n8n")
    install = n8n_cli_dir()
    assert json.loads((install / "node_modules/n8n/package.json").read_text())["version"] == N8N_VERSION
    node = subprocess.run([str(install / "bin/node"), "--version"], capture_output=True, text=True, check=True)
    assert int(node.stdout.strip().lstrip("v").split(".")[0]) >= 24
