"""``StoreAccess``: the full ``ConnectionStore`` opened on first need, and fast reads until then.

An embedded SQLite database already at head is read through ``SQLiteReader`` (no SQLAlchemy import) until
something needs the store (a write, a refresh, a claim); every other database opens the store at once, so a
bad URL or an unreachable server fails at construction, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from fluxnex.storage.store._sqlite_reader import SQLiteReader

if TYPE_CHECKING:
    from fluxnex.storage.store._repository import ConnectionStore

__all__ = ["StoreAccess"]


class StoreAccess:
    """The store of one database URL, opened lazily when fast reads are possible."""

    def __init__(self, url: str, open_store: Callable[[], ConnectionStore] | None = None) -> None:
        """``open_store`` makes the store (default: ``ConnectionStore(url)``), called once, on first need."""
        self.url = url
        self._open_store = open_store
        self._store: ConnectionStore | None = None
        self._lock = threading.Lock()
        self._reader = SQLiteReader.open(url)
        if self._reader is None:
            self._open()

    @property
    def is_open(self) -> bool:
        """Whether the full store has been opened."""
        return self._store is not None

    def _open(self) -> ConnectionStore:
        with self._lock:
            if self._store is None:
                if self._open_store is not None:
                    self._store = self._open_store()
                else:
                    from fluxnex.storage.store._repository import ConnectionStore

                    self._store = ConnectionStore(self.url)
            return self._store

    @property
    def store(self) -> ConnectionStore:
        """The full store, opened now if it was not yet."""
        return self._store if self._store is not None else self._open()

    @property
    def reads(self) -> ConnectionStore | SQLiteReader:
        """The store once open, else the SQLite reader (the same rows)."""
        if self._store is not None or self._reader is None:
            return self.store
        return self._reader

    def close(self) -> None:
        """Close the reader and dispose of the store's connections."""
        if self._reader is not None:
            self._reader.close()
        if self._store is not None:
            self._store.dispose()
