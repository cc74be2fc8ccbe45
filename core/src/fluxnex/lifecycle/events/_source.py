"""What the event code is given: the store, the plugin registry, the keyring (a ``CredentialManager`` is one;
``source_of`` makes one of the refresh coordinator a worker is given)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.lifecycle.refresh import RefreshCoordinator
    from fluxnex.storage.crypto import Keyring
    from fluxnex.storage.key_fingerprints import KeyGuard
    from fluxnex.storage.store import ConnectionStore

__all__ = ["EventSource", "source_of"]


class EventSource(Protocol):
    """The store, the registry whose ``connection_event`` hook is called, and the keyring of endpoint secrets."""

    @property
    def store(self) -> ConnectionStore:
        """The connection store (its engine holds the outbox tables too)."""

    @property
    def keyring(self) -> Keyring:
        """The keyring that seals the endpoints' signing secrets."""

    @property
    def registry(self) -> TypeRegistry:
        """The plugin registry (its plugin manager calls the hooks)."""

    @property
    def key_guard(self) -> KeyGuard:
        """Refuses writes under a keyring the database does not know."""


@attrs.frozen
class _Parts:
    store: ConnectionStore
    registry: TypeRegistry
    keyring: Keyring
    key_guard: KeyGuard


def source_of(coordinator: RefreshCoordinator) -> EventSource:
    """The coordinator's store, registry and keyring as an ``EventSource``."""
    cipher = coordinator.cipher
    return _Parts(coordinator.store, coordinator.registry, cipher.keyring, cipher.key_guard)
