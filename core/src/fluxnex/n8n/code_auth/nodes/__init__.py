"""n8n's "node code" types: credentials that declare no authentication, because the n8n node that uses each one
authenticates its requests in its own code (n8n-nodes-base 2.41.2, ``dist/nodes/**/GenericFunctions.js`` and
the like).

Each :class:`NodeAuth` restates what that node adds to a request (headers, query parameters, basic auth, body
fields, a token in the path), as a function of the same shape as :mod:`fluxnex.n8n.code_auth`'s, and the API
root the node builds from the credentials (``base_url``), so a relative path means what it means in n8n. Core's
built-in ``authenticate`` hook applies them as it applies the code-authenticated types; the differential test
``tests/n8n_engine/test_node_auth_differential.py`` runs each node's own function beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth.nodes import basic_keys, services_a_d, services_m_s, services_m_s_s3, services_m_s_tokens
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth

__all__ = ["NodeAuth", "base_url", "get", "implemented"]


_REGISTRY: dict[str, NodeAuth] = {}
for _family in (basic_keys, services_a_d, services_m_s, services_m_s_tokens, services_m_s_s3):
    for _name, _auth in _family.NODES.items():
        if _name in _REGISTRY:  # pragma: no cover - a programming error caught at import
            raise RuntimeError(f"node authentication for {_name} is defined twice")
        _REGISTRY[_name] = _auth


def implemented() -> set[str]:
    """The n8n types whose node authentication FluxNex implements."""
    return set(_REGISTRY)


def get(type_name: str) -> NodeAuth | None:
    """The entry for ``type_name``, or None when it is not a node-code type FluxNex implements."""
    return _REGISTRY.get(type_name)


def base_url(type_name: str, credentials: Mapping[str, Any]) -> str | None:
    """The API root the type's n8n node sends to, built from the (effective) credentials; None when unknown."""
    entry = _REGISTRY.get(type_name)
    if entry is None or entry.base_url is None:
        return None
    return entry.base_url(credentials)
