"""A manager whose registry holds the built-in types and n8n's whole catalog (fetched with npm once, cached)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.plugins import PluginInfo, TypeRegistry, _load_plugin, _new_plugin_manager
from fluxnex.lifecycle import builtin
from fluxnex.n8n import register_catalog
from fluxnex.storage.crypto import Keyring, generate_key_line
from fluxnex.testing.n8n_catalog import catalog_path

__all__ = ["manager"]


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[CredentialManager]:
    """A manager on a SQLite file in tmp_path whose registry is the built-ins plus n8n's catalog (no plugins)."""
    registry = TypeRegistry(_new_plugin_manager())
    _load_plugin(registry, builtin, PluginInfo("builtin", "fluxnex-core", "0"))
    register_catalog(registry, catalog_path())
    mgr = CredentialManager(f"sqlite:///{tmp_path}/db.sqlite", Keyring.parse(generate_key_line("k1")),
                            registry=registry)
    yield mgr
    mgr.close()
