"""``LeaseHeartbeat``: renews the refresh leases this process holds while their work runs.

A lease (``lease_owner`` + ``lease_until``) is what keeps a second process from refreshing a row with the
same refresh token. It must not run out while its owner is still working, however slow the provider or the
plugin hook: one daemon thread per coordinator renews every held lease in one statement every third of the
lease time. Only an owner that stopped renewing (crashed, killed, cut off from the database) loses its
lease to another process once ``lease_until`` passes. The thread starts on first use and is joined by
``close()``; it never retries anything itself, the next beat just tries again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fluxnex.storage.store import ConnectionStore

__all__ = ["LeaseHeartbeat"]

_log = logging.getLogger("fluxnex.refresh")


class LeaseHeartbeat:
    """Keeps the leases of ``owner`` alive while they are held (see the module docstring)."""

    def __init__(
        self,
        store: ConnectionStore,
        owner: str,
        lease_seconds: float,
        also: Callable[[], Iterable[uuid.UUID]] = frozenset,
    ) -> None:
        self.store = store
        self._also = also  # more leases to keep: results still waiting for the database
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = lease_seconds / 3
        self._held: Counter[uuid.UUID] = Counter()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.beats = 0  # renewal statements run (for tests and diagnostics)

    def add(self, connection_ids: Iterable[uuid.UUID]) -> None:
        """Start renewing these leases (counted: each ``add`` needs its ``discard``)."""
        with self._cond:
            self._held.update(connection_ids)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="fluxnex-lease-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, connection_id: uuid.UUID) -> None:
        """Stop renewing one hold of this lease."""
        with self._cond:
            self._held[connection_id] -= 1
            if self._held[connection_id] <= 0:
                del self._held[connection_id]

    @contextmanager
    def holding(self, connection_id: uuid.UUID) -> Iterator[None]:
        """Renew the lease on ``connection_id`` for the duration of the block."""
        self.add([connection_id])
        try:
            yield
        finally:
            self.discard(connection_id)

    def held(self) -> set[uuid.UUID]:
        """The connection ids whose leases are being renewed."""
        with self._cond:
            return set(self._held)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait(self.interval)
                if self._closed:
                    return
                ids = list(self._held)
            ids.extend(set(self._also()) - set(ids))
            if not ids:
                continue
            try:
                renewed = self.store.renew_leases(ids, self.owner, self.lease_seconds)
            except Exception as exc:
                _log.warning("lease heartbeat: renewing %d lease(s) failed: %s", len(ids), type(exc).__name__)
                continue
            self.beats += 1
            lost = set(ids) - renewed
            if lost:
                _log.debug("lease heartbeat: %d lease(s) no longer held: %s", len(lost), sorted(map(str, lost)))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it (renewals in flight finish)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
