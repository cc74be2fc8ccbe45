"""Local recovery files: refresh results the database could not take yet, kept on disk until it can.

A refreshed token whose write keeps failing lives only in memory, and the provider has already spent the old
refresh token: losing it loses the grant. So once the inline write retries are used up, the result goes to a
file (before the token is handed to the caller), the process keeps retrying the database in the background,
and the next FluxNex process on this host with the same database replays the file first (the worker also
replays at every cycle, and a refresh of the connection replays its files before it). Replay is
compare-and-set: see ``fluxnex.lifecycle.refresh_write``.

- Where: ``fluxnex-recovery-<id>/`` next to a SQLite file, else ``<data dir>/recovery/<id>/`` (``FLUXNEX_HOME``),
  where ``<id>`` is a hash of the database's identity (SQLite: the resolved file; PostgreSQL: host, port,
  database and ``search_path``, not the user, password or other options): one directory per database.
- What: one file per result, written to a temporary name, fsync'd, renamed, the directory fsync'd; mode 0600
  in a 0700 directory. The whole result (the new data, what it replaced) is one AES-GCM envelope under the
  manager's keyring, bound to the connection id; only the connection id and the time are in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from fluxnex.storage.crypto import Keyring

__all__ = ["PendingRecovery", "RecoveryFiles", "recovery_dir"]

_log = logging.getLogger("fluxnex.refresh")
_AAD = b"fluxnex-recovery\x00"
_SUFFIX = ".recovery.json"


def recovery_dir(database_url: str) -> Path:
    """The recovery directory of a database (see the module docstring)."""
    from sqlalchemy.engine import make_url

    from fluxnex.storage.config import data_dir

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        path = Path(url.database).expanduser().resolve()
        return path.parent / f"fluxnex-recovery-{_hash(str(path))}"
    options = url.query.get("options", "")
    options = " ".join(options) if isinstance(options, tuple) else options
    schema = re.search(r"-c\s*search_path\s*=\s*(\S+)", options)
    identity = [url.get_backend_name(), url.host or "localhost", url.port or 5432, url.database or "",
                schema.group(1) if schema else ""]  # fmt: skip
    return data_dir() / "recovery" / _hash(json.dumps(identity))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@attrs.frozen
class PendingRecovery:
    """A refresh result waiting in a recovery file (what ``fluxnex status`` lists; no secrets)."""

    connection_id: uuid.UUID
    written_at: dt.datetime
    path: Path

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"connection_id": str(self.connection_id), "written_at": self.written_at.isoformat(),
                "path": str(self.path)}  # fmt: skip


class RecoveryFiles:
    """The recovery files of one database, encrypted with one keyring."""

    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self.keyring = keyring

    def save(self, connection_id: uuid.UUID, payload: dict[str, Any]) -> Path:
        """Write ``payload`` (JSON-ready, secret) durably to a new file; its path."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        now = dt.datetime.now(dt.UTC)
        envelope = self.keyring.encrypt(json.dumps(payload).encode(), _AAD + connection_id.bytes)
        record = {"v": 1, "connection_id": str(connection_id), "written_at": now.isoformat(), "envelope": envelope}
        name = f"{connection_id}.{now.strftime('%Y%m%dT%H%M%S%f')}.{os.urandom(4).hex()}"
        tmp = self.directory / f".{name}.tmp"
        path = self.directory / f"{name}{_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._sync_dir()
        return path

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self, connection_id: uuid.UUID | None = None) -> list[PendingRecovery]:
        """Every recovery file waiting (of one connection), oldest first (reads no secret)."""
        if not self.directory.is_dir():
            return []
        out: list[PendingRecovery] = []
        for path in self.directory.glob(f"{connection_id or ''}*{_SUFFIX}"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                out.append(PendingRecovery(uuid.UUID(record["connection_id"]),
                                           dt.datetime.fromisoformat(record["written_at"]), path))  # fmt: skip
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if path.exists():
                    _log.error("recovery file %s cannot be read: %s", path, type(exc).__name__)
        return sorted(out, key=lambda p: (p.written_at, p.path.name))

    def load(self, pending: PendingRecovery) -> dict[str, Any]:
        """The decrypted payload of a recovery file (``DecryptionError`` with another keyring)."""
        record = json.loads(pending.path.read_text(encoding="utf-8"))
        plaintext = self.keyring.decrypt(record["envelope"], _AAD + pending.connection_id.bytes,
                                         what=f"recovery file {pending.path.name}")  # fmt: skip
        payload: dict[str, Any] = json.loads(plaintext)
        return payload

    def remove(self, path: Path) -> None:
        """Delete a replayed (or superseded) recovery file."""
        path.unlink(missing_ok=True)
        if self.directory.is_dir():
            self._sync_dir()
