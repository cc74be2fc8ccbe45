"""Keys cannot silently change: each key id's fingerprint is recorded in the database and checked before writes.

On first use of a key id the database has not seen (when a manager is created, or a rotation starts), its
fingerprint (a keyed hash, see :meth:`fluxnex.storage.crypto.Keyring.fingerprint`) is recorded; from then on a keyring
whose key for that kid differs is refused with one line naming the kid. A kid that already has rows in the
database (a database from before fingerprints) is recorded only after its key decrypted one of them. A primary
key the database does not know is accepted only when the database holds no connection yet, or when the keyring
also holds a key the database recorded (that is how a rotation starts: the new key first, the old one after
it); otherwise a keyring unrelated to the data (a deleted key file regenerated, a wrong
``FLUXNEX_ENCRYPTION_KEYS``) would write rows no one can read later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fluxnex.contract.errors import DecryptionError, KeyMismatch
from fluxnex.storage.crypto import Keyring, RowBinding
from fluxnex.storage.store import ConnectionRow, ConnectionStore, connection_table

__all__ = [
    "KeyGuard", "check_all_readable", "recorded_fingerprints", "rows_per_kid", "unknown_key_problem", "verify_keyring",
]

_metadata = sa.MetaData()
fingerprint_table = sa.Table(
    "key_fingerprint",
    _metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
F = fingerprint_table
T = connection_table


def recorded_fingerprints(store: ConnectionStore) -> dict[str, str]:
    """``{kid: fingerprint}`` as recorded in the database (``SQLiteReader`` has its own, without SQLAlchemy)."""
    with store.engine.connect() as conn:
        return {kid: fp for kid, fp in conn.execute(sa.select(F.c.kid, F.c.fingerprint))}


def _kid_column() -> sa.ColumnElement[str]:
    column: sa.ColumnElement[str] = T.c.data["kid"].as_string()
    return column


def rows_per_kid(store: ConnectionStore) -> dict[str | None, int]:
    """How many connections each key id encrypts (read from the envelopes' plaintext ``kid``; no decryption).

    This reads every row: ``fluxnex status --keys`` and error messages use it, never the write path.
    """
    kid = _kid_column()
    with store.engine.connect() as conn:
        return {k: int(n) for k, n in conn.execute(sa.select(kid, sa.func.count()).group_by(kid))}


def _sample_row(store: ConnectionStore, kid: object) -> ConnectionRow | None:
    where = _kid_column().is_(None) if kid is None else _kid_column() == kid
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(T.c.id).where(where).limit(1)).scalar()
    return None if found is None else store.get_by_id(found)


def _record(store: ConnectionStore, kid: str, fingerprint: str) -> str:
    """Record ``kid``'s fingerprint unless one is there already; return the one that is recorded now."""
    try:
        with store.engine.begin() as conn:
            conn.execute(F.insert().values(kid=kid, fingerprint=fingerprint, recorded_at=dt.datetime.now(dt.UTC)))
        return fingerprint
    except IntegrityError:  # another process recorded it first: its value is the truth
        with store.engine.connect() as conn:
            value = conn.execute(sa.select(F.c.fingerprint).where(F.c.kid == kid)).scalar()
        return str(value)


def _changed(kid: str) -> KeyMismatch:
    return KeyMismatch(
        f"encryption key {kid!r} is not the key this database recorded for {kid!r}: refusing to write "
        "(check FLUXNEX_ENCRYPTION_KEYS or the key file)"
    )


def verify_keyring(store: ConnectionStore, keyring: Keyring) -> None:
    """Raise ``KeyMismatch`` unless ``keyring`` may write to ``store``'s database; record new fingerprints."""
    recorded = recorded_fingerprints(store)
    trusted = primary_has_rows = False
    for kid in keyring.kids:
        fingerprint = keyring.fingerprint(kid)
        if kid in recorded:
            if recorded[kid] != fingerprint:
                raise _changed(kid)
            trusted = True
            continue
        row = _sample_row(store, kid)  # only for a kid not recorded yet: once per key and database
        if row is not None:
            primary_has_rows = primary_has_rows or kid == keyring.primary_kid
            try:
                keyring.decrypt(row.data, RowBinding(row.tenant_id, row.id, row.type, row.name), what="")
            except DecryptionError:
                raise KeyMismatch(
                    f"encryption key {kid!r} does not decrypt connection {row.name!r} stored under "
                    f"{kid!r}: refusing to write (wrong key for this database)"
                ) from None
            if _record(store, kid, fingerprint) != fingerprint:
                raise _changed(kid)
            trusted = True
    primary = keyring.primary_kid
    if primary in recorded or primary_has_rows:
        return
    total = store.count()  # the trigger-kept counts: no scan on the way to a write
    if total and not trusted:
        counts = rows_per_kid(store)  # only to name the keys in the refusal
        raise KeyMismatch(
            f"primary encryption key {primary!r} is unknown to this database, which holds {total} connection(s) "
            f"under other keys ({', '.join(sorted(str(k) for k in counts))}): refusing to write; configure the "
            "keyring that encrypted them (a new key goes first, followed by the old ones)"
        )
    if _record(store, primary, keyring.fingerprint(primary)) != keyring.fingerprint(primary):
        raise _changed(primary)


class KeyGuard:
    """``verify_keyring`` once per keyring and store (thread-safe); later writes cost nothing.

    ``prime`` verifies up front (the manager does it when it is created, where it talks to the database
    anyway) and keeps a refusal for the first write instead of raising it, so reading still works with a
    keyring that may not write, and a write later needs no query: a refreshed token is never lost to a
    database hiccup between the provider's answer and the write.
    """

    def __init__(self) -> None:
        self._verified: tuple[int, tuple[str, ...]] | None = None
        self._refusal: KeyMismatch | None = None
        self._lock = threading.Lock()

    def prime(self, store: ConnectionStore, keyring: Keyring) -> None:
        """Verify now; a ``KeyMismatch`` is kept and raised by every later ``check``."""
        with contextlib.suppress(KeyMismatch):
            self.check(store, keyring)

    def check(self, store: ConnectionStore, keyring: Keyring) -> None:
        """Raise ``KeyMismatch`` unless ``keyring`` may write to ``store``."""
        token = (id(store), tuple(keyring.fingerprint(k) for k in keyring.kids))
        if self._verified == token:
            if self._refusal is not None:
                raise self._refusal
            return
        with self._lock:
            if self._verified != token:
                try:
                    verify_keyring(store, keyring)
                    self._refusal = None
                except KeyMismatch as exc:
                    self._refusal = exc
                self._verified = token
        if self._refusal is not None:
            raise self._refusal


def check_all_readable(store: ConnectionStore, keyring: Keyring, *, batch_size: int = 500) -> Iterator[str]:
    """Yield a one-line problem for every connection ``keyring`` cannot decrypt (nothing: all readable).

    It reads what rotation reads (``store.data_after``: identity, version and data, no other column), the next
    batch while this one is decrypted (``store.rewriter``, writing nothing), and names a connection only when
    it fails: the check before ``fluxnex keys rotate`` costs about one decrypt a row.
    """
    rows = store.data_after(None, batch_size)
    with store.rewriter(batch_size) as reader:
        while rows:
            reader.send([], rows[-1].position if len(rows) == batch_size else None)  # a short batch is the last
            problems = []
            for row in rows:
                binding = RowBinding(row.tenant_id, row.id, row.type, row.name)
                try:
                    keyring.decrypt(row.data, binding, what="")
                except DecryptionError:  # decrypting again fails the same way, now naming the row
                    try:
                        keyring.decrypt(row.data, binding, what=f"connection {row.name!r} (id {row.id})")
                    except DecryptionError as exc:
                        problems.append(str(exc))
            rows = reader.receive()[1]
            yield from problems  # nothing in flight: the caller may use the pool meanwhile


def unknown_key_problem(store: ConnectionStore, keyring: Keyring) -> str | None:
    """One line naming a connection under a key id ``keyring`` lacks, and how many more (None: every kid known).

    The database counts the rows per kid (``rows_per_kid``): nothing is decrypted and no row comes to Python
    but the one named, so this costs a fraction of a rotation. It catches a keyring that lacks a key (the usual
    mistake) before anything is rewritten; a row that fails authentication under a known key is found by the
    rotation itself, which names it and stops (``rotate_keys``). ``check_all_readable`` decrypts every row.
    """
    unknown = {kid: n for kid, n in rows_per_kid(store).items() if kid not in keyring.kids}
    if not unknown:
        return None
    kid = min(unknown, key=str)
    total = sum(unknown.values())
    more = f" (and {total - 1} more)" if total > 1 else ""
    row = _sample_row(store, kid)
    if row is not None:
        try:
            keyring.decrypt(row.data, RowBinding(row.tenant_id, row.id, row.type, row.name),
                            what=f"connection {row.name!r} (id {row.id})")
        except DecryptionError as exc:  # a kid the keyring lacks never decrypts: the row is named as rotation does
            return f"{exc}{more}"
    return f"{total} connection(s) under key id(s) not in the keyring: {', '.join(sorted(map(str, unknown)))}"
