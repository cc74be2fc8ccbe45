"""Key rotation: re-encrypt every connection under the keyring's primary key, resumable and batched."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import NamedTuple

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


def _plaintext(keyring: Keyring, row: ConnectionRow | DataRow) -> tuple[bytes, RowBinding]:
    """The row's plaintext and what its new envelope binds to (older envelopes come out as current ones)."""
    binding = RowBinding(row.tenant_id, row.id, row.type, row.name)
    try:
        return keyring.decrypt(row.data, binding, what=""), binding
    except DecryptionError:  # decrypting again fails the same way, now naming the row (named only when needed)
        return keyring.decrypt(row.data, binding, what=_what(row)), binding


def _current(keyring: Keyring, row: ConnectionRow | DataRow) -> bool:
    return row.data.get("kid") == keyring.primary_kid and row.data.get("v") == ENVELOPE_VERSION


class _Batch(NamedTuple):
    """A re-encrypted batch waiting for its write: the updates, rows seen up to its end, its last row's id."""

    updates: list[tuple[uuid.UUID, int, str]]
    seen: int
    last_id: uuid.UUID


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
    DecryptionError naming it: the batches before its own are written and reported to ``progress`` first
    (they stay rotated), its own batch is not written. ``progress`` is called after each batch is written.

    Batch N-1 is written and batch N+1 read on one pooled connection (``store.rewriter``): on PostgreSQL in
    pipeline mode while batch N is re-encrypted, so the cipher and the database work side by side; on SQLite
    (in-process) before it. New envelopes go to the database as JSON text (``Keyring.encrypt_json``).
    """
    totals = {"rotated": 0, "skipped": 0, "retried": 0}
    limit = store.rewrite_batch_limit()  # PostgreSQL, small tables: smaller batches keep updates HOT
    batch_size = min(batch_size, limit) if limit else batch_size
    seen = 0
    primary = keyring.primary_kid
    rows = store.data_after(None, batch_size)
    unwritten: _Batch | None = None
    with store.rewriter(batch_size) as rewriter:
        while rows:
            after = rows[-1].position if len(rows) == batch_size else None  # a short batch is the last one
            rewriter.send(unwritten.updates if unwritten else [], after)
            updates = []
            try:
                for row in rows:
                    data = row.data
                    if data.get("kid") == primary and data.get("v") == ENVELOPE_VERSION:
                        totals["skipped"] += 1
                    else:
                        updates.append((row.id, row.version, keyring.encrypt_json(*_plaintext(keyring, row))))
            except DecryptionError:  # the batch in flight is written and reported; this one is not
                conflicts = rewriter.receive()[0]
                if unwritten is not None:
                    _finish(store, keyring, unwritten, conflicts, totals, progress)
                raise
            seen += len(rows)
            current = _Batch(updates, seen, rows[-1].id)
            conflicts, rows = rewriter.receive()
            if unwritten is not None:
                _finish(store, keyring, unwritten, conflicts, totals, progress)
            unwritten = current
        if unwritten is not None:
            rewriter.send(unwritten.updates, None)
            _finish(store, keyring, unwritten, rewriter.receive()[0], totals, progress)
    return RotationResult(totals["rotated"], totals["skipped"], totals["retried"])


def _finish(
    store: ConnectionStore,
    keyring: Keyring,
    batch: _Batch,
    conflicts: list[uuid.UUID],
    totals: dict[str, int],
    progress: Callable[[RotationProgress], None] | None,
) -> None:
    """Count a written batch, retry its conflicts one by one, then report progress."""
    totals["rotated"] += len(batch.updates) - len(conflicts)
    for cid in conflicts:
        outcome = _retry_one(store, keyring, cid)
        totals["retried"] += 1
        if outcome == "rotated":
            totals["rotated"] += 1
        elif outcome == "skipped":
            totals["skipped"] += 1
    if progress is not None:
        result = RotationResult(totals["rotated"], totals["skipped"], totals["retried"])
        progress(RotationProgress(batch.seen, result, batch.last_id))


def _retry_one(store: ConnectionStore, keyring: Keyring, connection_id: uuid.UUID) -> str:
    """Re-read a row that changed under us and rotate it by compare-and-set, retrying a few times."""
    for _ in range(MAX_CONFLICT_RETRIES):
        row = store.get_by_id(connection_id)
        if row is None:
            return "deleted"
        if _current(keyring, row):
            return "skipped"
        if store.update_cas(row.id, row.version, data=keyring.encrypt(*_plaintext(keyring, row))) is not None:
            return "rotated"
    raise ConcurrentUpdateError(
        f"connection id {connection_id} kept changing during key rotation; run the rotation again"
    )
