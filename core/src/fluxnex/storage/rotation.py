"""Key rotation: re-encrypt every connection under the keyring's primary key, resumable and batched."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs

from fluxnex.contract.errors import ConcurrentUpdateError, DecryptionError
from fluxnex.storage.crypto import ENVELOPE_VERSION, Keyring, RowBinding
from fluxnex.storage.store import ConnectionRow, ConnectionStore
from fluxnex.storage.store._scale import DataRow

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
    """Progress after one batch: rows seen so far, the running result and the id of the batch's last row."""

    seen: int
    result: RotationResult
    last_id: uuid.UUID | None


def _what(row: ConnectionRow | DataRow) -> str:
    return f"connection {row.name!r} (id {row.id})"


def _reencrypt(keyring: Keyring, row: ConnectionRow | DataRow) -> dict[str, Any]:
    binding = RowBinding(row.tenant_id, row.id, row.type, row.name)  # older envelopes come out as current ones
    try:
        plaintext = keyring.decrypt(row.data, binding, what="")
    except DecryptionError:  # decrypting again fails the same way, now naming the row (named only when needed)
        plaintext = keyring.decrypt(row.data, binding, what=_what(row))
    return keyring.encrypt(plaintext, binding)


def _current(keyring: Keyring, row: ConnectionRow | DataRow) -> bool:
    return row.data.get("kid") == keyring.primary_kid and row.data.get("v") == ENVELOPE_VERSION


def rotate_keys(
    store: ConnectionStore,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    progress: Callable[[RotationProgress], None] | None = None,
) -> RotationResult:
    """Re-encrypt every row not under the primary key, in batches with compare-and-set writes.

    A row changed concurrently is re-read and retried; rows already under the primary are skipped, so an
    interrupted rotation resumes where it stopped when run again. A row no key decrypts raises
    DecryptionError naming it (rows of earlier batches stay rotated). Each batch is written (one statement
    on PostgreSQL) on a helper thread while the next one is read and re-encrypted, so the database and the
    cipher work side by side; ``progress`` is called after each batch is written.
    """
    totals = {"rotated": 0, "skipped": 0, "retried": 0}
    seen = 0
    limit = store.rewrite_batch_limit()  # PostgreSQL, small tables: smaller batches keep updates HOT
    batch_size = min(batch_size, limit) if limit else batch_size
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fluxnex-rotate") as writer:
        batch = store.data_after(None, batch_size)
        pending: tuple[Future[list[uuid.UUID]], int, int, uuid.UUID] | None = None
        while True:
            updates = []
            for row in batch:
                if _current(keyring, row):
                    totals["skipped"] += 1
                else:
                    updates.append((row.id, row.version, _reencrypt(keyring, row)))
            seen += len(batch)
            if pending is not None:
                _finish(store, keyring, pending, totals, progress)
                pending = None
            if not batch:
                break
            pending = (writer.submit(store.write_data_batch, updates), len(updates), seen, batch[-1].id)
            if len(batch) < batch_size:
                _finish(store, keyring, pending, totals, progress)
                break
            # Read the next batch while this one is written. Only now: the previous write has committed, so
            # this read's snapshot never holds back the pruning of versions the next write finds (PostgreSQL).
            batch = store.data_after(batch[-1].position, batch_size)
    return RotationResult(totals["rotated"], totals["skipped"], totals["retried"])


def _finish(
    store: ConnectionStore,
    keyring: Keyring,
    pending: tuple[Future[list[uuid.UUID]], int, int, uuid.UUID],
    totals: dict[str, int],
    progress: Callable[[RotationProgress], None] | None,
) -> None:
    """Wait for a batch's write, retry its conflicts one by one, then report progress."""
    future, written, seen, last_id = pending
    conflicts = future.result()
    totals["rotated"] += written - len(conflicts)
    for cid in conflicts:
        outcome = _retry_one(store, keyring, cid)
        totals["retried"] += 1
        if outcome == "rotated":
            totals["rotated"] += 1
        elif outcome == "skipped":
            totals["skipped"] += 1
    if progress is not None:
        result = RotationResult(totals["rotated"], totals["skipped"], totals["retried"])
        progress(RotationProgress(seen, result, last_id))


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
