"""``fluxnex n8n install|list|remove`` against real community packages from npm (versions pinned), and local ones.

What the pinned packages hold (checked with ``npm pack`` when these tests were written):
- ``n8n-nodes-evolution-api@1.0.4``: ``evolutionApi``, a generic ``apikey`` header and a test request;
- ``n8n-nodes-mcp@0.1.37``: three types (STDIO, SSE, HTTP) with no ``authenticate`` (the node uses them);
- ``@banumeow/n8n-nodes-oracle-cloud@1.3.9``: ``ociApi`` builds its region options from the ``oci-common``
  library at load time, so installing it needs that dependency (installed into the temporary directory);
- ``n8n-nodes-azure-openai-ms-oauth2@1.6.1``: extends n8n's ``microsoftOAuth2Api`` (needs the catalog);
- ``n8n-nodes-html-tag-extract@0.2.0``: nodes only, no credentials.
Code-authenticated types and shadowing are tested with packages these tests write and pack themselves.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.n8n_packages import install_package
from fluxnex.contract.errors import PluginError
from fluxnex.contract.plugins import get_registry, reset_registry
from fluxnex.n8n.packages import packages_dir, read_packages
from fluxnex.testing.n8n_catalog import catalog_path

EVOLUTION = "n8n-nodes-evolution-api@1.0.4"
MCP = "n8n-nodes-mcp@0.1.37"
ORACLE = "@banumeow/n8n-nodes-oracle-cloud@1.3.9"
AZURE = "n8n-nodes-azure-openai-ms-oauth2@1.6.1"
NO_CREDENTIALS = "n8n-nodes-html-tag-extract@0.2.0"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in [k for k in os.environ if k.startswith("FLUXNEX_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FLUXNEX_HOME", str(tmp_path / "home"))
    reset_registry()
    yield tmp_path / "home"
    reset_registry()


def fluxnex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("fluxnex")
    assert exe is not None
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, check=False)


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_install_list_use_and_remove_real_packages(home: Path) -> None:
    installed = _json(fluxnex("n8n", "install", EVOLUTION, "--json"))
    assert installed["package"] == "n8n-nodes-evolution-api" and installed["version"] == "1.0.4"
    assert installed["types"] == [{"name": "evolutionApi", "authenticate": "declarative"}]
    assert Path(installed["path"]).parent == home / "n8n-packages"
    assert Path(installed["path"]).stat().st_mode & 0o077 == 0
    mcp = _json(fluxnex("n8n", "install", MCP, "--json"))
    assert [t["name"] for t in mcp["types"]] == ["mcpClientApi", "mcpClientSseApi", "mcpClientHttpApi"]
    assert {t["authenticate"] for t in mcp["types"]} == {"none"}

    listed = _json(fluxnex("n8n", "list", "--json"))
    assert [(p["package"], p["version"]) for p in listed] == [("n8n-nodes-evolution-api", "1.0.4"),
                                                               ("n8n-nodes-mcp", "0.1.37")]
    types = {t["name"]: t for t in _json(fluxnex("types", "list", "--json"))}
    assert types["evolutionApi"]["distribution"] == "n8n-nodes-evolution-api"
    assert types["evolutionApi"]["provided_by"] == ["n8n-nodes-evolution-api 1.0.4"]
    assert types["mcpClientHttpApi"]["version"] == "0.1.37"
    shown = _json(fluxnex("types", "show", "evolutionApi", "--json"))
    header = {"apikey": "={{$credentials.apikey}}"}
    assert shown["authenticate"] == {"type": "generic", "properties": {"headers": header}}
    assert [p["name"] for p in shown["properties"]] == ["server-url", "apikey"]
    assert [p["secret"] for p in shown["properties"]] == [False, True]

    # the stored type works at run time (no node involved): its header reaches a local server
    seen = _serve_once_and_use(home)
    assert seen == "k-123"

    removed = _json(fluxnex("n8n", "remove", "n8n-nodes-evolution-api", "--json"))
    assert removed == {"removed": "n8n-nodes-evolution-api", "version": "1.0.4", "types": ["evolutionApi"]}
    assert "evolutionApi" not in {t["name"] for t in _json(fluxnex("types", "list", "--json"))}
    gone = fluxnex("n8n", "remove", "n8n-nodes-evolution-api")
    assert gone.returncode == 1
    assert gone.stderr.strip() == ("Error: n8n package 'n8n-nodes-evolution-api' is not installed "
                                   "(installed: n8n-nodes-mcp)")


def _serve_once_and_use(home: Path) -> str | None:
    from fluxnex import CredentialManager

    seen: dict[str, str | None] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen["apikey"] = self.headers.get("apikey")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    reset_registry()
    mgr = CredentialManager(f"sqlite:///{home}/fluxnex.db")
    try:
        tenant = "7f1c0a52-8a8e-4f4b-9d55-3b1f3b8b0c11"
        base = f"http://127.0.0.1:{server.server_address[1]}"
        mgr.create_connection(tenant, "evolutionApi", "evo", {"server-url": base, "apikey": "k-123"})
        result = mgr.test_connection(tenant, "evo")  # the package's own test request, sent for real
        assert result.ok, result.message
    finally:
        mgr.close()
        server.shutdown()
        server.server_close()
    return seen.get("apikey")


def test_a_package_whose_credentials_need_a_dependency(home: Path) -> None:
    result = install_package(ORACLE)
    assert result.package.type_names == ["ociApi", "oracleDatabaseApi"]
    region = next(p for p in result.package.credentials[0]["properties"] if p["name"] == "region")
    assert len(region["options"]) > 40  # built by oci-common's Region.values() while the class loaded
    assert {"name": "us-chicago-1", "value": "us-chicago-1"} in region["options"]
    assert get_registry().provider("ociApi").label == "@banumeow/n8n-nodes-oracle-cloud 1.3.9"
    assert [f.name for f in (home / "n8n-packages").iterdir()] == ["%40banumeow%2Fn8n-nodes-oracle-cloud.json"]


def test_a_package_extending_n8n_catalog_types(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PluginError, match=r"extends unknown credential type 'microsoftOAuth2Api' \(n8n's catalog "
                       r"types need FLUXNEX_N8N_CATALOG"):
        install_package(AZURE)
    assert read_packages() == []  # nothing written
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    reset_registry()
    install_package(AZURE)
    registry = get_registry()
    assert registry.ancestors("azureOpenAiMsOAuth2Api") == ["microsoftOAuth2Api", "oAuth2Api"]
    # a process without the catalog reports the package as one failed plugin; the others load
    monkeypatch.delenv("FLUXNEX_N8N_CATALOG")
    reset_registry()
    [failure] = [f for f in get_registry().failures if f.name == "n8n-nodes-azure-openai-ms-oauth2"]
    assert failure.error.endswith("extends unknown credential type 'microsoftOAuth2Api' (n8n's catalog types need "
                                  "FLUXNEX_N8N_CATALOG)")
    assert "builtin" in [p.name for p in get_registry().plugins]
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    reset_registry()
    listed = _json(fluxnex("n8n", "list", "--json"))
    assert listed[0]["types"] == [{"name": "azureOpenAiMsOAuth2Api", "authenticate": "OAuth2"}]


def test_clear_errors(home: Path, tmp_path: Path) -> None:
    missing = fluxnex("n8n", "install", "n8n-nodes-fluxnex-test-does-not-exist")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error: n8n package 'n8n-nodes-fluxnex-test-does-not-exist': not found on npm"
    version = fluxnex("n8n", "install", "n8n-nodes-mcp@99.0.0")
    assert version.stderr.strip() == "Error: n8n package 'n8n-nodes-mcp@99.0.0': npm has no version matching it"
    empty = fluxnex("n8n", "install", NO_CREDENTIALS)
    assert empty.stderr.strip() == (
        "Error: n8n package n8n-nodes-html-tag-extract@0.2.0 contains no credential types (package.json lists "
        "none under n8n.credentials and there is no dist/credentials/*.credentials.js)")
    bad = fluxnex("n8n", "install", "Not A Name")
    assert bad.stderr.strip() == ("Error: 'Not A Name' is not an npm package name (expected NAME or NAME@VERSION, "
                                  "e.g. n8n-nodes-evolution-api@1.0.4)")
    # node (and npm) are needed at install time only: a PATH without them says so
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    no_node = fluxnex("n8n", "install", MCP, env={"PATH": str(bare)})
    assert no_node.stderr.strip() == ("Error: npm is needed to install n8n community packages (install Node.js, "
                                      "which brings npm); it is not needed to use them once installed")
    npm = shutil.which("npm")
    assert npm is not None
    (bare / "npm").symlink_to(npm)
    only_npm = fluxnex("n8n", "install", MCP, env={"PATH": str(bare)})
    assert only_npm.stderr.strip() == ("Error: node is needed to install n8n community packages (install Node.js, "
                                       "which brings npm); it is not needed to use them once installed")
    assert not (home / "n8n-packages").exists() or not list((home / "n8n-packages").iterdir())


# -- packages written here: code-authenticated types, shadowing, conflicts --------------------------------------

CODE_CREDENTIAL = """
'use strict';
class SignedApi {
  constructor() {
    this.name = 'fluxnexSignedApi';
    this.displayName = 'Signed API';
    this.properties = [{ displayName: 'Secret', name: 'secret', type: 'string', typeOptions: { password: true },
      default: '' }, { displayName: 'Session', name: 'session', type: 'hidden', typeOptions: { expirable: true },
      default: '' }];
  }
  async authenticate(credentials, requestOptions) { return requestOptions; }
  async preAuthentication(credentials) { return { session: 'x' }; }
}
class PlainApi {
  constructor() {
    this.name = 'fluxnexPlainApi';
    this.displayName = 'Plain API';
    this.properties = [{ displayName: 'Token', name: 'token', type: 'string', default: '' }];
    this.authenticate = { type: 'generic', properties: { headers: { 'X-Token': '={{$credentials.token}}' } } };
  }
}
function helper() { return 1; }
module.exports = { SignedApi, PlainApi, helper };
"""


def _local_package(root: Path, name: str, credentials: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    files = [f"dist/credentials/{file}" for file in credentials]
    (root / "package.json").write_text(json.dumps({"name": name, "version": "1.2.3", "n8n": {
        "n8nNodesApiVersion": 1, "credentials": files}, "scripts": {"prepack": "exit 1"}}))
    for file, source in credentials.items():
        path = root / "dist" / "credentials" / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def test_code_authenticated_types_are_listed_as_code(home: Path, tmp_path: Path) -> None:
    package = _local_package(tmp_path / "signed", "n8n-nodes-fluxnex-signed",
                             {"Signed.credentials.js": CODE_CREDENTIAL})
    installed = _json(fluxnex("n8n", "install", str(package), "--json"))  # npm pack runs no scripts (prepack fails)
    assert installed["types"] == [{"name": "fluxnexSignedApi", "authenticate": "pre-authentication"},
                                  {"name": "fluxnexPlainApi", "authenticate": "declarative"}]
    stored = read_packages()[0]
    assert stored.code_authenticate == ["fluxnexSignedApi"] and stored.pre_authentication == ["fluxnexSignedApi"]
    signed = next(c for c in stored.credentials if c["name"] == "fluxnexSignedApi")
    assert signed["authenticate"] == {}  # as n8n's own catalog exports a function
    registry = get_registry()
    from fluxnex.n8n.authenticate import has_code_authentication

    assert has_code_authentication(registry.get("fluxnexSignedApi"))
    table = fluxnex("n8n", "list")
    assert "fluxnexSignedApi  pre-authentication" in table.stdout


def test_shadowing_and_conflicts_are_reported_as_for_plugins(home: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    reset_registry()
    source = """'use strict';
class Mine { constructor() { this.name = 'NAME'; this.displayName = 'Mine';
  this.properties = [{ displayName: 'Key', name: 'key', type: 'string', default: '' }]; } }
module.exports = { Mine };"""
    package = _local_package(tmp_path / "mine", "n8n-nodes-fluxnex-mine", {
        "A.credentials.js": source.replace("NAME", "mailchimpApi"),
        "B.credentials.js": source.replace("NAME", "revenovaApi"),
    })
    result = install_package(str(package))
    assert result.shadowed == ["mailchimpApi: n8n-nodes-base 2.41.2"]
    assert result.conflicts == ["revenovaApi: fluxnex-revenova 0.1.0"]
    plugins = _json(fluxnex("plugins", "--json", env={"FLUXNEX_N8N_CATALOG": str(catalog_path())}))
    assert "mailchimpApi: n8n-nodes-fluxnex-mine 1.2.3 provides it; the definition from n8n-nodes-base 2.41.2 is not " \
           "used" in plugins["shadowed"]
    assert plugins["conflicts"]["revenovaApi"] == ["fluxnex-revenova 0.1.0", "n8n-nodes-fluxnex-mine 1.2.3"]
    registry = get_registry()
    assert registry.provider("mailchimpApi").distribution == "n8n-nodes-fluxnex-mine"
    assert [p.name for p in registry.get("mailchimpApi").properties] == ["key"]


def test_packages_dir_is_in_the_data_dir(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fluxnex.storage.config import data_dir

    assert packages_dir() == data_dir() / "n8n-packages"
    monkeypatch.delenv("FLUXNEX_HOME")
    assert packages_dir() == data_dir() / "n8n-packages"
    monkeypatch.setenv("FLUXNEX_N8N_PACKAGES", "/srv/packages")
    assert packages_dir() == Path("/srv/packages")
