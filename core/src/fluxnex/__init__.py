"""FluxNex: integration credentials as plugins, stored encrypted and kept fresh.

The public API. Names are imported lazily (PEP 562), so ``import fluxnex`` loads neither SQLAlchemy,
requests nor cryptography, and discovers no plugin until one is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
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
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .domains import DomainNotAllowed
    from .expressions import Expression, Literal
    from .manager import ConnectionInfo, CredentialManager
    from .schema import CredentialType, Property
    from .store import Status

__version__ = "0.1.0"

_LAZY = {
    "CredentialType": ".schema",
    "Property": ".schema",
    "CredentialManager": ".manager",
    "ConnectionInfo": ".manager",
    "DomainNotAllowed": ".domains",
    "Expression": ".expressions",
    "Literal": ".expressions",
    "Status": ".store",
    "get_registry": ".plugins",
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
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
