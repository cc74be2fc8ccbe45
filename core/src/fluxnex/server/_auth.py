"""API key authentication (``Authorization: Bearer``), scopes, tenant binding and the per-key rate limit."""

from __future__ import annotations

import math
import threading
import time
import uuid
from typing import TYPE_CHECKING

from starlette.requests import Request

from fluxnex.storage.store._service import ApiKey, ServiceStore

from ._problems import Problem

if TYPE_CHECKING:
    from fluxnex.storage.store._prompt import PromptRead

__all__ = ["RateLimiter", "authenticate", "bearer_token", "check_tenant"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="fluxnex"'}


class RateLimiter:
    """A fixed window of ``limit`` requests per ``window`` seconds per key (in this process)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._windows: dict[uuid.UUID, tuple[float, int]] = {}

    def check(self, key_id: uuid.UUID) -> None:
        """Count one request; ``Problem(429)`` with ``Retry-After`` once the window is full."""
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(key_id, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.limit:
                wait = max(1, math.ceil(start + self.window - now))
                raise Problem(429, f"rate limit of {self.limit} requests per {self.window:g} s exceeded; "
                              f"retry after {wait} s", kind="rate-limited", headers={"Retry-After": str(wait)})
            self._windows[key_id] = (start, count + 1)
            if len(self._windows) > 10_000:  # forget idle keys
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window}


def bearer_token(request: Request) -> str | None:
    """The request's ``Authorization: Bearer`` token, or None when it sends none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(request: Request, rows: ServiceStore, limiter: RateLimiter, scope: str,
                 prompt: PromptRead | None = None) -> ApiKey:
    """The request's live key holding ``scope``: 401 when missing or bad, 403 without the scope, 429 when over.

    With ``prompt`` the key is the row it read (``Busy``, before anything is counted, when it read another).
    """
    token = bearer_token(request)
    if token is None:
        raise Problem(401, "missing API key: send Authorization: Bearer <key>", kind="unauthorized",
                      headers=_CHALLENGE)
    key = rows.authenticate(token, prompt)
    if key is None:
        raise Problem(401, "invalid or revoked API key", kind="unauthorized", headers=_CHALLENGE)
    limiter.check(key.id)
    if not key.allows(scope):
        raise Problem(403, f"this API key lacks the scope {scope!r}", kind="forbidden")
    return key


def check_tenant(key: ApiKey, tenant_id: uuid.UUID) -> None:
    """A key bound to a tenant sees no other: 404, as if the other tenant's resources did not exist."""
    if key.tenant_id is not None and key.tenant_id != tenant_id:
        raise Problem(404, f"tenant {tenant_id} not found", kind="not-found")
