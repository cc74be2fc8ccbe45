"""Which name a write binds into the ciphertext when its caller passes only the row's id.

The name of the newest version of the row this process decrypted: a writer reads the row it writes, and its
compare-and-set on that version fails if the row was renamed since, so a successful write is always bound to
the row's current name. Only when the process never decrypted the row is its stored name looked up.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Final

from fluxnex.contract.errors import ConnectionNotFound
from fluxnex.storage.store import ConnectionRow

if TYPE_CHECKING:
    from fluxnex.storage.store import ConnectionStore

__all__ = ["BoundNames"]

CACHE_SIZE: Final = 10_000


class BoundNames:
    """A bounded, thread-safe map of connection id to (version, name) of the newest version decrypted."""

    def __init__(self) -> None:
        self._names: dict[uuid.UUID, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def seen(self, row: ConnectionRow) -> None:
        """Note that ``row`` was decrypted (older versions than one already noted are ignored)."""
        with self._lock:
            known = self._names.get(row.id)
            if known is None or known[0] <= row.version:
                if known is None and len(self._names) >= CACHE_SIZE:
                    self._names.pop(next(iter(self._names)))
                self._names[row.id] = (row.version, row.name)

    def name_for(self, store: ConnectionStore, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> str:
        """The name to bind a write of ``connection_id`` to."""
        with self._lock:
            known = self._names.get(connection_id)
        if known is not None:
            return known[1]
        current = store.get_by_id(connection_id)
        if current is None:
            raise ConnectionNotFound(tenant_id, str(connection_id))
        return current.name
