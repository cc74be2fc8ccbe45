"""``ProviderHTTP``: the one provider ``requests.Session`` of a manager, created on first use.

Commands that only read never import requests; everything that talks to a provider (the refresh protocol, the
token-expiry hook, connect, connection tests) is given this holder and takes ``session`` from it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

__all__ = ["ProviderHTTP"]


class ProviderHTTP:
    """Holds the shared provider session (bounded sockets, no cookies, ``timeout`` overall per request)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """The session, created on the first call (``fluxnex.lifecycle._http``)."""
        session = self._session
        if session is None:
            with self._lock:
                if self._session is None:
                    from fluxnex.lifecycle._http import provider_session

                    self._session = provider_session(self.timeout)
                session = self._session
        return session

    def close(self) -> None:
        """Close the session if one was created."""
        if self._session is not None:
            self._session.close()
