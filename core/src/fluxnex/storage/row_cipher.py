"""A connection's data sealed into its row and opened again: JSON, AES-256-GCM, bound to the row and its name.

``RowCipher`` is what every writer and reader of connection data uses (the manager, the refresh protocol, the
import): ``encrypt`` refuses a keyring the database did not record (``KeyGuard``) and binds the envelope to
(tenant, connection id, type, name); ``decrypt`` names the connection and the key when it fails, and remembers
the name it read so a later write by id binds to it (``BoundNames``). Expressions stay marked in the plaintext.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fluxnex.n8n.expression_marks import from_stored, to_stored
from fluxnex.storage.bound_names import BoundNames

if TYPE_CHECKING:
    from fluxnex.storage.crypto import Keyring
    from fluxnex.storage.key_fingerprints import KeyGuard
    from fluxnex.storage.store import ConnectionRow, ConnectionStore

__all__ = ["RowCipher"]


class RowCipher:
    """Encrypts and decrypts connection data for one keyring and one database (``store`` opens it on demand)."""

    def __init__(self, keyring: Keyring, store: Callable[[], ConnectionStore]) -> None:
        self.keyring = keyring
        self._store = store
        self._bound_names = BoundNames()
        self._key_guard: KeyGuard | None = None
        self._lock = threading.Lock()

    @property
    def key_guard(self) -> KeyGuard:
        """The check that this keyring may write to this database (``fluxnex.storage.key_fingerprints``)."""
        if self._key_guard is None:
            from fluxnex.storage.key_fingerprints import KeyGuard

            with self._lock:
                if self._key_guard is None:
                    self._key_guard = KeyGuard()
        return self._key_guard

    def encrypt(
        self, tenant_id: uuid.UUID, connection_id: uuid.UUID, type_name: str, data: Mapping[str, Any],
        name: str | None = None,
    ) -> dict[str, Any]:
        """The envelope of ``data`` bound to its row and name (looked up by id when ``name`` is not given).

        Refuses (``KeyMismatch``) when the keyring does not match the keys the database has recorded.
        """
        from fluxnex.storage.crypto import RowBinding

        store = self._store()
        if name is None:
            name = self._bound_names.name_for(store, tenant_id, connection_id)
        self.key_guard.check(store, self.keyring)
        plaintext = json.dumps(to_stored(data), separators=(",", ":")).encode()
        return self.keyring.encrypt(plaintext, RowBinding(tenant_id, connection_id, type_name, name))

    def decrypt(self, row: ConnectionRow) -> dict[str, Any]:
        """The plaintext data of a stored row; ``DecryptionError`` names the connection and the key."""
        from fluxnex.storage.crypto import RowBinding

        plaintext = self.keyring.decrypt(
            row.data,
            RowBinding(row.tenant_id, row.id, row.type, row.name),
            what=f"connection {row.name!r} (id {row.id})",
        )
        self._bound_names.seen(row)  # what a write that follows binds to (see fluxnex.storage.bound_names)
        data: dict[str, Any] = from_stored(json.loads(plaintext))
        return data
