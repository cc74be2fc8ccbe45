"""n8n's catalog: loading, registration beside core and plugins, and ``FLUXNEX_N8N_CATALOG``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.errors import PluginError
from fluxnex.contract.plugins import (
    PluginInfo,
    TypeRegistry,
    _load_plugin,
    _new_plugin_manager,
    get_registry,
    reset_registry,
)
from fluxnex.lifecycle import builtin
from fluxnex.n8n import catalog_version, load_catalog, register_catalog, shadowed
from fluxnex.storage.crypto import Keyring, generate_key_line
from fluxnex.testing.n8n_catalog import catalog_path


def _registry() -> TypeRegistry:
    reg = TypeRegistry(_new_plugin_manager())
    _load_plugin(reg, builtin, PluginInfo("builtin", "fluxnex-core", "0"))
    return reg


def test_load_catalog_from_a_path_or_a_list(tmp_path: Path) -> None:
    raw = json.loads(catalog_path().read_text())
    from_path, from_list = load_catalog(catalog_path()), load_catalog(raw)
    assert len(from_path) == len(from_list) == 409
    assert all(from_path[t["name"]].to_n8n() == t for t in raw)  # unchanged
    types_dir = tmp_path / "package" / "dist" / "types"
    types_dir.mkdir(parents=True)
    (types_dir / "credentials.json").write_text(catalog_path().read_text())
    (tmp_path / "package" / "package.json").write_text('{"name": "n8n-nodes-base", "version": "2.41.2"}')
    assert catalog_version(types_dir / "credentials.json") == "2.41.2"
    reg = _registry()
    register_catalog(reg, types_dir / "credentials.json")
    assert reg.provider("mailchimpApi") == PluginInfo("n8n-catalog", "n8n-nodes-base", "2.41.2")
    assert PluginInfo("n8n-catalog", "n8n-nodes-base", "2.41.2") in reg.plugins
    with pytest.raises(PluginError, match="appears twice"):
        load_catalog([raw[0], raw[0]])


def test_core_builtins_equal_the_catalog_so_loading_both_is_no_conflict() -> None:
    reg = _registry()
    builtins = set(reg.names())
    register_catalog(reg, catalog_path())
    assert reg.conflicts == {} and shadowed(reg) == []
    assert len(reg.names()) == 409 and builtins <= set(reg.names())
    assert all(reg.provider(name).distribution == "fluxnex-core" for name in builtins)
    assert reg.provider("mailchimpApi").name == "n8n-catalog"


def test_a_plugin_type_shadows_the_catalog_and_the_shadowing_is_reported() -> None:
    reg = _registry()
    plugin = PluginInfo("quickbooks", "fluxnex-quickbooks", "1.0")
    reg.add([{"name": "quickBooksOAuth2Api", "displayName": "QuickBooks (plugin)", "extends": ["oAuth2Api"],
              "properties": [{"displayName": "Realm", "name": "realmId", "type": "string", "default": ""}]}], plugin)
    register_catalog(reg, catalog_path())
    assert reg.provider("quickBooksOAuth2Api") == plugin
    assert reg.get("quickBooksOAuth2Api").display_name == "QuickBooks (plugin)"
    assert reg.conflicts == {}
    [note] = shadowed(reg)
    assert note.name == "quickBooksOAuth2Api" and "fluxnex-quickbooks 1.0" in str(note)


def test_environment_variable_makes_catalog_types_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    monkeypatch.setenv("FLUXNEX_LOAD_PLUGINS", "")
    reset_registry()
    try:
        registry = get_registry()
        assert registry.failures == [] and "mailchimpApi" in registry
        mgr = CredentialManager(f"sqlite:///{tmp_path}/db.sqlite", Keyring.parse(generate_key_line("k1")))
        tenant = uuid.uuid4()
        mgr.create_connection(tenant, "mailchimpApi", "mc", {"apiKey": "abc-us6"})
        assert mgr.get_connection(tenant, "mc") == {"apiKey": "abc-us6"}
        mgr.close()
    finally:
        reset_registry()


def test_a_broken_catalog_path_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(tmp_path / "missing.json"))
    monkeypatch.setenv("FLUXNEX_LOAD_PLUGINS", "")
    reset_registry()
    try:
        [failure] = get_registry().failures
        assert failure.name == "n8n-catalog" and "cannot read" in failure.error
    finally:
        reset_registry()
