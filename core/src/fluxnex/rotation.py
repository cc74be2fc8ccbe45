"""Key rotation: re-encrypt every connection under the keyring's primary key, resumable and batched."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import attrs

from fluxnex.crypto import ENVELOPE_VERSION, Keyring, RowBinding
from fluxnex.errors import ConcurrentUpdateError
from fluxnex.store import ConnectionRow, ConnectionStore

__all__ = ["RotationProgress", "RotationResult", "rotate_keys"]

MAX_CONFLICT_RETRIES = 5


@attrs.frozen
class RotationResult:
    """What a rotation did: rows re-encrypted, rows already under the primary, CAS conflicts retried."""

    rotated: int = 0
    skipped_already_primary: int = 0
    conflicts_retried: int = 0


@attrs.frozen
class RotationProgress:
    """Progress after one batch: rows seen so far and the running result."""

    seen: int
    result: RotationResult
    last_id: uuid.UUID | None


def _what(row: ConnectionRow) -> str:
    return f"connection {row.name!r} (id {row.id})"


def _reencrypt(keyring: Keyring, row: ConnectionRow) -> dict[str, Any]:
    binding = RowBinding(row.tenant_id, row.id, row.type, row.name)  # older envelopes come out as current ones
    return keyring.encrypt(keyring.decrypt(row.data, binding, what=_what(row)), binding)


def _current(keyring: Keyring, row: ConnectionRow) -> bool:
    return row.data.get("kid") == keyring.primary_kid and row.data.get("v") == ENVELOPE_VERSION


def rotate_keys(
    store: ConnectionStore,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    progress: Callable[[RotationProgress], None] | None = None,
) -> RotationResult:
    """Re-encrypt every row not under the primary key, by id-ordered batches with compare-and-set writes.

    A row changed concurrently is re-read and retried; rows already under the primary are skipped, so an
    interrupted rotation resumes where it stopped when run again. A row no key decrypts raises
    DecryptionError naming it (rows of earlier batches stay rotated).
    """
    rotated = skipped = retried = seen = 0
    last_id: uuid.UUID | None = None
    while True:
        batch = store.iter_rows_after(last_id, batch_size)
        if not batch:
            break
        seen += len(batch)
        last_id = batch[-1].id
        updates = []
        for row in batch:
            if _current(keyring, row):
                skipped += 1
            else:
                updates.append((row.id, row.version, _reencrypt(keyring, row)))
        conflicts = store.write_data_batch(updates) if updates else []
        rotated += len(updates) - len(conflicts)
        for cid in conflicts:
            outcome = _retry_one(store, keyring, cid)
            retried += 1
            if outcome == "rotated":
                rotated += 1
            elif outcome == "skipped":
                skipped += 1
        if progress is not None:
            progress(RotationProgress(seen, RotationResult(rotated, skipped, retried), last_id))
        if len(batch) < batch_size:
            break
    return RotationResult(rotated, skipped, retried)


def _retry_one(store: ConnectionStore, keyring: Keyring, connection_id: uuid.UUID) -> str:
    """Re-read a row that changed under us and rotate it by compare-and-set, retrying a few times."""
    for _ in range(MAX_CONFLICT_RETRIES):
        row = store.get_by_id(connection_id)
        if row is None:
            return "deleted"
        if _current(keyring, row):
            return "skipped"
        if store.update_cas(row.id, row.version, data=_reencrypt(keyring, row)) is not None:
            return "rotated"
    raise ConcurrentUpdateError(
        f"connection id {connection_id} kept changing during key rotation; run the rotation again"
    )
