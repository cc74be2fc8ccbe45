"""FluxNex: integration credentials as plugins, stored encrypted and kept fresh.

The public API. Names are imported lazily (PEP 562), so ``import fluxnex`` loads neither SQLAlchemy,
requests nor cryptography, and discovers no plugin until one is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fluxnex import _moved
from fluxnex.contract.errors import (
    ConcurrentUpdateError,
    ConfigurationError,
    ConnectionExists,
    ConnectionExpired,
    ConnectionNotFound,
    DatabaseError,
    DecryptionError,
    ExpressionError,
    FluxnexError,
    KeyMismatch,
    MigrationError,
    NotConnected,
    NotRefreshable,
    PluginError,
    RefreshError,
    UnknownCredentialType,
    ValidationError,
)
from fluxnex.contract.hookspecs import hookimpl

_moved.install()  # the import paths from before the layer folders (fluxnex.crypto, fluxnex.manager, ...)

if TYPE_CHECKING:
    from fluxnex.api.manager import ConnectionInfo, CredentialManager
    from fluxnex.contract.schema import CredentialType, Property
    from fluxnex.n8n.domains import DomainNotAllowed
    from fluxnex.n8n.expressions import Expression, Literal
    from fluxnex.storage.store import Status

__version__ = "0.1.0"

_LAZY = {
    "CredentialType": "fluxnex.contract.schema",
    "Property": "fluxnex.contract.schema",
    "CredentialManager": "fluxnex.api.manager",
    "ConnectionInfo": "fluxnex.api.manager",
    "DomainNotAllowed": "fluxnex.n8n.domains",
    "Expression": "fluxnex.n8n.expressions",
    "Literal": "fluxnex.n8n.expressions",
    "Status": "fluxnex.storage.store",
    "get_registry": "fluxnex.contract.plugins",
}

__all__ = [
    "ConcurrentUpdateError",
    "ConfigurationError",
    "ConnectionExists",
    "ConnectionExpired",
    "ConnectionInfo",
    "ConnectionNotFound",
    "CredentialManager",
    "CredentialType",
    "DatabaseError",
    "DecryptionError",
    "DomainNotAllowed",
    "Expression",
    "ExpressionError",
    "FluxnexError",
    "KeyMismatch",
    "Literal",
    "MigrationError",
    "NotConnected",
    "NotRefreshable",
    "PluginError",
    "Property",
    "RefreshError",
    "Status",
    "UnknownCredentialType",
    "ValidationError",
    "get_registry",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fluxnex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
