"""n8n's published credential catalog (``n8n-nodes-base``'s ``dist/types/credentials.json``) as FluxNex types.

``load_catalog`` reads the file (or an already-parsed list) into ``CredentialType`` instances, unchanged.
``register_catalog`` adds them to a ``TypeRegistry`` as the plugin ``n8n-catalog`` (distribution
``n8n-nodes-base``): types core already ships with an identical definition are no conflict, and a type that
an installed plugin provides keeps the plugin's definition: the catalog's copy is left out and the shadowing
is recorded in ``registry.shadowed`` (shown by ``fluxnex plugins``), never silently swapped and never an
error, because a plugin that ships a type on purpose (QuickBooks, HubSpot) knows more about it than n8n's
generic definition.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from fluxnex.contract.errors import PluginError
from fluxnex.contract.schema import CredentialType
from fluxnex.n8n._files import read_json

if TYPE_CHECKING:
    from fluxnex.contract.plugins import PluginInfo, TypeRegistry

__all__ = ["CATALOG_DISTRIBUTION", "CATALOG_PLUGIN", "Shadowed", "load_catalog", "register_catalog"]

CATALOG_PLUGIN = "n8n-catalog"
CATALOG_DISTRIBUTION = "n8n-nodes-base"
_log = logging.getLogger("fluxnex.n8n")


@attrs.frozen
class Shadowed:
    """A catalog type left out because an installed plugin provides its own definition of that name."""

    name: str
    kept: str  # the label of the plugin whose definition is used
    dropped: str  # the label of the catalog

    def __str__(self) -> str:
        return f"{self.name}: {self.kept} provides it; the definition from {self.dropped} is not used"


def _read(path_or_list: str | os.PathLike[str] | Iterable[Any]) -> list[Any]:
    if isinstance(path_or_list, str | os.PathLike):
        raw = read_json(path_or_list, f"n8n catalog {Path(path_or_list)}", PluginError)
    else:
        raw = list(path_or_list)
    if isinstance(raw, Mapping):  # some tools write {name: definition}
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise PluginError("an n8n catalog must be a JSON array of credential type definitions")
    return raw


def load_catalog(path_or_list: str | os.PathLike[str] | Iterable[Any]) -> dict[str, CredentialType]:
    """Every credential type of an n8n catalog (path to credentials.json, or its parsed list), by name."""
    types: dict[str, CredentialType] = {}
    for entry in _read(path_or_list):
        ct = CredentialType.from_n8n(entry) if not isinstance(entry, CredentialType) else entry
        if ct.name in types:
            raise PluginError(f"n8n catalog: credential type {ct.name!r} appears twice")
        types[ct.name] = ct
    return types


def catalog_version(path: str | os.PathLike[str]) -> str:
    """The version of the ``n8n-nodes-base`` package the catalog file belongs to, else ``unknown``."""
    for parent in Path(path).resolve().parents:
        manifest = parent / "package.json"
        if manifest.is_file():
            try:
                meta = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return "unknown"
            return str(meta.get("version", "unknown")) if meta.get("name") == CATALOG_DISTRIBUTION else "unknown"
    return "unknown"


def shadowed(registry: TypeRegistry) -> list[Shadowed]:
    """The catalog types that installed plugins shadow in ``registry``."""
    value = getattr(registry, "shadowed", None)
    return list(value) if isinstance(value, list) else []


def register_catalog(registry: TypeRegistry, path_or_list: str | os.PathLike[str] | Iterable[Any],
                     *, version: str | None = None) -> list[str]:
    """Add the catalog's types to ``registry`` (see the module docstring); returns the names added."""
    from fluxnex.contract.plugins import PluginInfo

    types = load_catalog(path_or_list)
    if version is None:
        version = catalog_version(path_or_list) if isinstance(path_or_list, str | os.PathLike) else "unknown"
    info: PluginInfo = PluginInfo(CATALOG_PLUGIN, CATALOG_DISTRIBUTION, version)
    notes: list[Shadowed] = shadowed(registry)
    incoming: list[CredentialType] = []
    for name, ct in types.items():
        if name in registry:
            provider = registry.provider(name)
            if provider.distribution != info.distribution and registry.definition(name).to_n8n() != ct.to_n8n():
                notes.append(Shadowed(name, provider.label, info.label))
                _log.info("n8n catalog type %s is shadowed by %s", name, provider.label)
                continue
        incoming.append(ct)
    added = registry.add(incoming, info, n8n_catalog=True)
    registry.shadowed = notes
    if info not in registry.plugins:
        registry.plugins.append(info)
    return added
