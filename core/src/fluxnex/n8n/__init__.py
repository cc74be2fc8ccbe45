"""Layer 2, n8n semantics: expressions, ``displayOptions``, validation, generic ``authenticate``, domains,
n8n's credential catalog and its ``export:credentials`` format (see docs/n8n.md, docs/architecture.md).

Pure functions of a type and its data, as n8n computes them: no database, no network, no keys. Imports only
``contract``. The catalog is registered when ``FLUXNEX_N8N_CATALOG`` names its ``credentials.json``; an export
is stored by ``fluxnex.api.n8n_import``. The names below are imported on first use (PEP 562), so
``fluxnex.n8n.expressions`` loads neither the catalog nor the importer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxnex.n8n.catalog import Shadowed, catalog_version, load_catalog, register_catalog, shadowed
    from fluxnex.n8n.cipher import decrypt_n8n
    from fluxnex.n8n.importer import ImportItem, ImportReport, read_export

_LAZY = {
    "Shadowed": "fluxnex.n8n.catalog",
    "catalog_version": "fluxnex.n8n.catalog",
    "load_catalog": "fluxnex.n8n.catalog",
    "register_catalog": "fluxnex.n8n.catalog",
    "shadowed": "fluxnex.n8n.catalog",
    "decrypt_n8n": "fluxnex.n8n.cipher",
    "ImportItem": "fluxnex.n8n.importer",
    "ImportReport": "fluxnex.n8n.importer",
    "read_export": "fluxnex.n8n.importer",
}

__all__ = [
    "ImportItem",
    "ImportReport",
    "Shadowed",
    "catalog_version",
    "decrypt_n8n",
    "load_catalog",
    "read_export",
    "register_catalog",
    "shadowed",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fluxnex.n8n' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
