"""Core's own implementations of the contract, named by dotted path and loaded the way entry points are.

Built-ins are plugins too (llm's ``DEFAULT_PLUGINS``): the contract names them here and loads them on first use,
so it never imports the layers that implement them (docs/architecture.md). This module is the only place in
``fluxnex`` that loads code by name (``tests/test_architecture.py`` checks it).
"""

from __future__ import annotations

import importlib
from typing import Any, Final

__all__ = ["BUILTIN_EXTRAS", "BUILTIN_PLUGIN", "CATALOG_SOURCE", "N8N_SEMANTICS", "PACKAGES_SOURCE", "load"]

#: The built-in plugin: n8n's base types, the generic OAuth2 refresher and revoker, code-authenticated types.
BUILTIN_PLUGIN: Final = "fluxnex.lifecycle.builtin"
#: More built-in plugins (name, module), registered after it: n8n's pre-authentication, OAuth1 signing and
#: the tokens code-authenticated types fetch first.
BUILTIN_EXTRAS: Final = (
    ("builtin-preauth", "fluxnex.lifecycle.preauth"),
    ("builtin-oauth1", "fluxnex.lifecycle.oauth1"),
    ("builtin-code-tokens", "fluxnex.lifecycle.code_tokens_shared"),
)
#: Registers n8n's credential catalog when ``FLUXNEX_N8N_CATALOG`` names one.
CATALOG_SOURCE: Final = "fluxnex.n8n.catalog:register_catalog"
#: Registers the n8n community packages ``fluxnex n8n install`` stored in the data directory.
PACKAGES_SOURCE: Final = "fluxnex.n8n.packages:register_packages"
#: What ``CredentialType.effective_data``, ``resolve_authenticate`` and ``resolve_test_request`` compute.
N8N_SEMANTICS: Final = "fluxnex.n8n.authenticate"


def load(path: str) -> Any:
    """The module ``a.b`` or the object ``a.b:name`` (an entry point's ``value``), imported on first use."""
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module
