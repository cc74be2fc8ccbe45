"""What the event code is given (a ``CredentialManager`` is one): the store, the plugin registry, the keyring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..crypto import Keyring
    from ..key_fingerprints import KeyGuard
    from ..plugins import TypeRegistry
    from ..store import ConnectionStore

__all__ = ["EventSource", "StoreSource"]


class StoreSource(Protocol):
    """Something with a connection store (metrics read the database through it)."""

    @property
    def store(self) -> ConnectionStore:
        """The connection store (its engine holds the outbox tables too)."""


class EventSource(StoreSource, Protocol):
    """The store, the registry whose ``connection_event`` hook is called, and the keyring of endpoint secrets."""

    keyring: Keyring

    @property
    def registry(self) -> TypeRegistry:
        """The plugin registry (its plugin manager calls the hooks)."""

    @property
    def key_guard(self) -> KeyGuard:
        """Refuses writes under a keyring the database does not know."""
