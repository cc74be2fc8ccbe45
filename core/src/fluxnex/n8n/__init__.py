"""n8n compatibility: its credential catalog, and import of ``n8n export:credentials`` output.

See ``docs/n8n.md``. The catalog is registered when ``FLUXNEX_N8N_CATALOG`` names its ``credentials.json``.
"""

from __future__ import annotations

from .catalog import Shadowed, catalog_version, load_catalog, register_catalog, shadowed
from .cipher import decrypt_n8n
from .importer import ImportItem, ImportReport, import_export

__all__ = [
    "ImportItem",
    "ImportReport",
    "Shadowed",
    "catalog_version",
    "decrypt_n8n",
    "import_export",
    "load_catalog",
    "register_catalog",
    "shadowed",
]
