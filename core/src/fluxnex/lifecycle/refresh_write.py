"""Writing refresh results: compare-and-set on version, merged into concurrent updates, never lost.

The rule for a result (the new data from a refresh that started from the row at version ``v``):

1. Write it if the row is still at ``v``, whoever holds the lease now: nothing was written since the
   refresh read the row, so the row still holds the token generation the provider just replaced and the
   result is the newest token there is. (A process that lost its lease because it was cut off still stores a
   valid token; the process that took over fails its own compare-and-set later.)
2. Otherwise re-read the row. If it still holds the same token generation (same access and refresh token as
   at ``v``: somebody changed other fields, e.g. ``update_connection`` with a new client secret), apply the
   refresh's own changes on top of the current data (a three-way merge against what it read) and
   compare-and-set again: a concurrent update is never reverted.
3. If the row holds another generation (another refresh, or a reconnect, wrote a token since), the row's
   token is the newer one: the result is dropped and logged ("superseded"), never written over it.

Durability: the write is retried inline (``WRITE_ATTEMPTS`` times with backoff); if the database still
refuses it, the result goes to an encrypted recovery file (``fluxnex.lifecycle.recovery``) before the token is
returned, stays pending in memory (callers get it, the lease is kept renewed so no other process spends the
same refresh token), and one daemon thread retries it for at most ``RETRY_FOR`` seconds. ``close()`` flushes
once more; whatever is still unwritten stays in its file for the next process on this host.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from fluxnex.contract.errors import ConcurrentUpdateError, DatabaseError, DecryptionError, FluxnexError
from fluxnex.lifecycle.recovery import RecoveryFiles
from fluxnex.n8n.validation import CODE_TOKENS_FIELD
from fluxnex.storage.store import ConnectionRow, Status

if TYPE_CHECKING:
    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.lifecycle.token_policy import TokenPolicy
    from fluxnex.storage.row_cipher import RowCipher
    from fluxnex.storage.store import ConnectionStore

__all__ = ["RefreshResult", "ResultWriter", "generation"]

_log = logging.getLogger("fluxnex.refresh")

WRITE_ATTEMPTS: Final = 3
RETRY_FOR: Final = 600.0
_CAS_ATTEMPTS: Final = 32
_MISSING: Final = object()
WRITTEN, SUPERSEDED, GONE = "written", "superseded", "gone"


def generation(data: Mapping[str, Any]) -> str:
    """A fingerprint of the token generation in ``data`` (access + refresh token); never stored in clear."""
    token = data.get("oauthTokenData")
    pair = [token.get("access_token"), token.get("refresh_token")] if isinstance(token, Mapping) else [None, None]
    if data.get("preAuthTokenData") is not None:  # a pre-authentication fetch (fluxnex.lifecycle.preauth)
        pair.append(data["preAuthTokenData"])
    if data.get(CODE_TOKENS_FIELD) is not None:  # tokens a code-authenticated type fetched (code_tokens_shared)
        pair.append(data[CODE_TOKENS_FIELD])
    return hashlib.sha256(json.dumps(pair, default=str).encode()).hexdigest()


def merge(base: Mapping[str, Any], new: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with the changes ``new`` made to ``base`` applied on top."""
    out = dict(current)
    for key in set(base) | set(new):
        value = new.get(key, _MISSING)
        if value == base.get(key, _MISSING):
            continue
        if value is _MISSING:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@attrs.frozen
class RefreshResult:
    """A refresh result: what it read (``base_*``) and what it got."""

    connection_id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    name: str
    base_version: int
    base_data: dict[str, Any] = attrs.field(repr=False)
    new_data: dict[str, Any] = attrs.field(repr=False)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RefreshResult:
        """Rebuild from ``to_payload`` (a recovery file; marked expressions come back as expressions)."""
        from fluxnex.n8n.expression_marks import from_stored

        return cls(
            uuid.UUID(payload["connection_id"]), uuid.UUID(payload["tenant_id"]), payload["type"], payload["name"],
            int(payload["base_version"]), from_stored(payload["base_data"]), from_stored(payload["new_data"]),
        )  # fmt: skip

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready (secret: goes only into an encrypted recovery file; expressions stay marked)."""
        from fluxnex.n8n.expression_marks import to_stored

        out = attrs.asdict(self)
        out["connection_id"], out["tenant_id"] = str(self.connection_id), str(self.tenant_id)
        out["base_data"], out["new_data"] = to_stored(self.base_data), to_stored(self.new_data)
        return out


class ResultWriter:
    """Stores refresh results for one coordinator (see the module docstring)."""

    def __init__(
        self, store: ConnectionStore, registry: TypeRegistry, cipher: RowCipher, tokens: TokenPolicy,
        files: RecoveryFiles,
    ) -> None:
        self.store = store
        self.registry = registry
        self.cipher = cipher
        self.tokens = tokens
        self.files = files
        self._lock = threading.Lock()
        self._pending: dict[uuid.UUID, tuple[RefreshResult, Path | None]] = {}
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- one write -----------------------------------------------------------------------------------------

    def write(self, result: RefreshResult) -> str:
        """Apply the rule of the module docstring once; WRITTEN, SUPERSEDED or GONE (database errors raise)."""
        store, cipher = self.store, self.cipher
        version, data, name = result.base_version, result.new_data, result.name
        for _ in range(_CAS_ATTEMPTS):
            ct = self.registry.get(result.type)
            changes = self.tokens.token_columns(ct, data)
            envelope = cipher.encrypt(result.tenant_id, result.connection_id, result.type, data, name=name)
            written = store.write_refresh(
                result.connection_id, version, data=envelope, status=Status.ACTIVE.value, refresh_failures=0,
                last_error=None, next_attempt_at=None, last_refreshed_at=_utcnow(), **changes,
            )  # fmt: skip
            if written is not None:
                return WRITTEN
            current = store.get_by_id(result.connection_id)
            if current is None:
                _log.warning("refresh connection=%s: deleted before its new token was written", result.connection_id)
                return GONE
            current_data = cipher.decrypt(current)
            if generation(current_data) != generation(result.base_data):
                _log.warning(
                    "refresh connection=%s: the row already holds a newer token (version %d); result superseded",
                    result.connection_id, current.version,
                )  # fmt: skip
                return SUPERSEDED
            _log.info(
                "refresh connection=%s: updated meanwhile (version %d -> %d); new token merged into the update",
                result.connection_id, version, current.version,
            )  # fmt: skip
            version, data = current.version, merge(result.base_data, result.new_data, current_data)
            name = current.name  # the name is bound into the ciphertext: a rename meanwhile is kept
        raise ConcurrentUpdateError(f"connection {result.name!r} kept changing while its new token was written")

    # -- persist first ---------------------------------------------------------------------------------------

    def persist(self, result: RefreshResult) -> None:
        """Write now (retrying inline); if the database keeps failing, to a recovery file and pending."""
        delay = 0.05
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self.write(result)
                return
            except (DatabaseError, ConcurrentUpdateError) as exc:  # never dropped: retried, then recovered
                _log.warning("refresh connection=%s: writing the new token failed (attempt %d): %s",
                             result.connection_id, attempt + 1, exc)  # fmt: skip
                if attempt + 1 < WRITE_ATTEMPTS:
                    time.sleep(delay)
                    delay *= 4
        path: Path | None = None
        try:
            path = self.files.save(result.connection_id, result.to_payload())
        except OSError as exc:  # the disk refuses too: the token now lives only in this process
            _log.critical("refresh connection=%s: the new token cannot be written to the database nor to a "
                          "recovery file (%s): it is lost if this process exits first", result.connection_id, exc)
        else:
            _log.error("refresh connection=%s: new token kept in recovery file %s until the database takes it",
                       result.connection_id, path)  # fmt: skip
        with self._lock:
            self._pending[result.connection_id] = (result, path)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._retry_loop, name="fluxnex-persist", daemon=True)
                self._thread.start()
        self._wake.set()

    def pending_data(self, connection_id: uuid.UUID) -> dict[str, Any] | None:
        """The unwritten new data of a connection, tried once more first; None when nothing is pending."""
        with self._lock:
            entry = self._pending.get(connection_id)
        if entry is None:
            return None
        self._try(entry)
        return entry[0].new_data

    def pending_ids(self) -> set[uuid.UUID]:
        """Connections whose new token is not written yet."""
        with self._lock:
            return set(self._pending)

    def _try(self, entry: tuple[RefreshResult, Path | None]) -> bool:
        result, path = entry
        try:
            outcome = self.write(result)
        except DatabaseError as exc:
            _log.warning("refresh connection=%s: new token still not written: %s", result.connection_id, exc)
            return False
        with self._lock:
            if self._pending.get(result.connection_id) is entry:
                del self._pending[result.connection_id]
        if path is not None:
            self.files.remove(path)
        _log.info("refresh connection=%s: pending new token %s", result.connection_id, outcome)
        return True

    def _retry_loop(self) -> None:
        started, delay = time.monotonic(), 0.5
        while not self._closed:
            self._wake.wait(delay)
            self._wake.clear()
            if self._closed:
                return
            with self._lock:
                entries = list(self._pending.values())
            if not entries:
                started, delay = time.monotonic(), 0.5
                continue
            if all(self._try(entry) for entry in entries):
                delay = 0.5
                continue
            if time.monotonic() - started > RETRY_FOR:
                _log.error("refresh: %d new token(s) still unwritten after %.0fs; left in %s to be replayed",
                           len(entries), RETRY_FOR, self.files.directory)  # fmt: skip
                with self._lock:  # on file: replayed before any refresh of the row (``replay_connection``)
                    for cid in [cid for cid, (_, path) in self._pending.items() if path is not None]:
                        del self._pending[cid]
                    self._thread = None
                return
            delay = min(30.0, delay * 2)

    # -- replay and shutdown ------------------------------------------------------------------------------

    def replay_connection(self, connection_id: uuid.UUID) -> bool:
        """Replay the recovery files of one connection (before refreshing it: its refresh token may be spent).

        True when one was settled (re-read the row); ``DatabaseError`` when the database still refuses it.
        """
        return self.replay(connection_id, strict=True) > 0

    def replay(self, connection_id: uuid.UUID | None = None, *, strict: bool = False) -> int:
        """Write every recovery file of this database (of one connection) not pending here; how many settled."""
        settled = 0
        with self._lock:
            mine = {path for _, path in self._pending.values()}
        for pending in self.files.pending(connection_id):
            if pending.path in mine:
                continue
            try:
                result = RefreshResult.from_payload(self.files.load(pending))
            except DecryptionError as exc:
                _log.error("recovery file %s: %s", pending.path.name, exc)
                continue
            except (OSError, ValueError, KeyError, TypeError):
                continue  # taken by another process meanwhile, or unreadable (logged by pending())
            try:
                outcome = self.write(result)
            except DatabaseError as exc:
                _log.warning("recovery file %s: database still unavailable: %s", pending.path.name, exc)
                if strict:
                    raise
                return settled
            except FluxnexError as exc:  # say the row no longer decrypts: keep the file, try the others
                _log.error("recovery file %s: not replayed: %s: %s", pending.path.name, type(exc).__name__, exc)
                continue
            self.files.remove(pending.path)
            settled += 1
            _log.warning("recovery file %s replayed: connection=%s %s", pending.path.name, result.connection_id,
                         outcome)  # fmt: skip
        return settled

    def close(self, timeout: float = 10.0) -> None:
        """Stop retrying in the background, flush once more; what is still unwritten stays in its file."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            entries = list(self._pending.values())
        for entry in entries:
            if not self._try(entry):
                _log.error("refresh connection=%s: new token left in recovery file %s", entry[0].connection_id,
                           entry[1])  # fmt: skip


def _utcnow() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def row_result(row: ConnectionRow, base_data: dict[str, Any], new_data: dict[str, Any]) -> RefreshResult:
    """The result of refreshing ``row`` (read as ``base_data``) into ``new_data``."""
    return RefreshResult(row.id, row.tenant_id, row.type, row.name, row.version, base_data, new_data)
