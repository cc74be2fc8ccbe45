"""Access tokens that code-authenticated n8n types fetch before their request (``googleApi`` from the HTTP node,
``ciscoSecureEndpointApi``): sent once, cached until shortly before they expire, shared by every thread.

n8n's code fetches a new token for every request; here the answer is kept under the request's ``cache_key``
(which names the credentials, never the time-dependent assertion) until ``leeway`` seconds before its
``expires_in`` (or the request's ``keep_for``, for session logins that answer none). One fetch per key runs at a
time: concurrent requests for the same key wait for it (single flight), so a burst of requests costs one token
POST. An answer without either is used once, not kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fluxnex.contract.errors import FluxnexError

if TYPE_CHECKING:
    import requests

    from fluxnex.n8n.code_auth import TokenRequest

__all__ = ["CodeTokenCache", "TokenFetchError", "send_token", "token_key"]


class TokenFetchError(FluxnexError):
    """A token POST of a code-authenticated type failed (the message names the host and status, never a secret).

    ``status`` is the HTTP status the token endpoint answered (None when no answer came or it could not be read).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def token_key(request: TokenRequest) -> str:
    """What identifies ``request``'s answer: its ``cache_key``, else its URL and body."""
    return request.cache_key or f"{request.url}\n{request.body}"


class CodeTokenCache:
    """See the module docstring. ``session`` returns the ``requests.Session`` to send with (called on a fetch)."""

    def __init__(self, session: Callable[[], requests.Session], *, leeway: float = 60.0,
                 clock: Callable[[], float] = time.time, timeout: float = 30.0) -> None:
        self._session = session
        self._leeway = leeway
        self._clock = clock
        self._timeout = timeout
        self._answers: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: token POSTs sent (for operators and tests)
        self.fetches = 0

    def fetch(self, request: TokenRequest) -> Mapping[str, Any]:
        """The provider's answer to ``request``: cached while fresh, else fetched once for every waiting caller."""
        key = token_key(request)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._fresh(key)
            if cached is not None:
                return cached
            self.fetches += 1
            answer = send_token(self._session(), request, timeout=self._timeout, clock=self._clock)
            expires_in = answer.get("expires_in")
            if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
                expires_in = request.keep_for  # a session login: no expiry in the answer, a known idle timeout
            if expires_in > 0:
                with self._guard:
                    self._answers[key] = (self._clock() + float(expires_in) - self._leeway, answer)
            return answer

    def forget(self) -> None:
        """Drop every cached answer."""
        with self._guard:
            self._answers.clear()

    def _fresh(self, key: str) -> Mapping[str, Any] | None:
        with self._guard:
            entry = self._answers.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]


def send_token(session: requests.Session, request: TokenRequest, *, timeout: float | None,
               clock: Callable[[], float] = time.time) -> Mapping[str, Any]:
    """Send ``request`` with ``session`` and read its answer (a JSON object, or STS's credentials).

    Failures raise ``TokenFetchError`` (naming the host and status, never a secret).
    """
    import requests

    host = urlsplit(request.url).hostname or "the token endpoint"
    try:
        response = session.request(request.method, request.url,
                                   data=request.body.encode("utf-8") if request.body else None,
                                   headers=dict(request.headers), auth=request.auth, timeout=timeout,
                                   allow_redirects=False)
    except requests.RequestException as exc:
        raise TokenFetchError(f"{request.purpose}: token request to {host} failed: {type(exc).__name__}") from None
    with response:
        if not 200 <= response.status_code < 300:
            raise TokenFetchError(f"{request.purpose}: token request to {host} answered {response.status_code}",
                                  response.status_code)
        if request.answer == "aws_sts":
            return _sts_credentials(request, host, response.content, clock())
        try:
            answer = response.json()
        except ValueError:
            raise TokenFetchError(f"{request.purpose}: token request to {host} did not answer JSON") from None
    if not isinstance(answer, dict):
        raise TokenFetchError(f"{request.purpose}: token request to {host} did not answer a JSON object")
    return answer


def _sts_credentials(request: TokenRequest, host: str, content: bytes, now: float) -> Mapping[str, Any]:
    """An STS ``AssumeRole`` XML answer as ``{AccessKeyId, SecretAccessKey, SessionToken, expires_in}``."""
    import datetime as dt
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(content)  # noqa: S314 (STS's answer, no DTD or entities in it)
    except ElementTree.ParseError:
        raise TokenFetchError(f"{request.purpose}: {host} did not answer STS XML") from None
    found = {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root.iter()}
    if not found.get("AccessKeyId") or not found.get("SecretAccessKey"):
        raise TokenFetchError(f"{request.purpose}: {host} answered without credentials")
    answer: dict[str, Any] = {k: found.get(k, "") for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    try:
        expiration = dt.datetime.fromisoformat(found.get("Expiration", "").replace("Z", "+00:00"))
        answer["expires_in"] = expiration.timestamp() - now
    except ValueError:
        pass  # no known expiry: not kept by the cache (reused until a 401 when stored with the connection)
    return answer
