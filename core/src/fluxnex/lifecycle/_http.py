"""The manager's one ``requests.Session`` for provider calls: bounded sockets, an overall deadline per request.

- One session per manager, shared by every thread (urllib3's pools are thread-safe), so threads that come
  and go leave no sessions or sockets behind: at most ``POOL_MAXSIZE`` kept-alive sockets per host, for
  ``POOL_HOSTS`` hosts. Cookies are refused: one tenant's provider never sees another's.
- ``timeout`` is an overall deadline, not requests' per-read timeout: the connect may take up to
  ``CONNECT_TIMEOUT`` seconds, the answer may take until the deadline to start and is read to the end within
  it, so a slow token endpoint is waited for (it may already have rotated the refresh token: giving up on its
  answer early would lose the grant) and nothing hangs forever. A request past the deadline raises
  ``requests.Timeout``. A caller's own shorter ``timeout`` wins.
- The proxy environment (``HTTPS_PROXY``, ``NO_PROXY``, ...) is read once per origin every
  ``PROXY_ENV_SECONDS``, not on every request (requests walks the whole environment twice per request, a
  measurable part of a refresh's CPU).
"""

from __future__ import annotations

import http.cookiejar
import os
import time
from collections.abc import Callable
from typing import Any, Final, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

__all__ = ["CONNECT_TIMEOUT", "DEFAULT_HTTP_TIMEOUT", "provider_session"]

#: Seconds one provider request may take in all (``CredentialManager(http_timeout=...)``).
DEFAULT_HTTP_TIMEOUT: Final = 120.0
#: Seconds the TCP/TLS connect may take (at most the deadline).
CONNECT_TIMEOUT: Final = 10.0
POOL_HOSTS: Final = 16
POOL_MAXSIZE: Final = 32
#: Seconds the proxy environment read for an origin is reused.
PROXY_ENV_SECONDS: Final = 60.0
_PROXY_ORIGINS: Final = 256
_merge = cast("Callable[[Any, Any], Any]", merge_setting)  # requests' merge of a request and a session setting
_CHUNK: Final = 64 * 1024


def _limit(value: Any, default: float) -> float:
    """The overall deadline: the caller's (a number, or the larger part of a (connect, read) pair), capped."""
    if isinstance(value, tuple):
        value = max((float(v) for v in value if v is not None), default=None)
    if value is None:
        return default
    return min(float(value), default)


class DeadlineSession(requests.Session):
    """A session whose every request completes (body read) within ``deadline`` seconds or raises Timeout."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=POOL_HOSTS, pool_maxsize=POOL_MAXSIZE)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = "fluxnex"
        self._environ: dict[tuple[str, str, str | None], tuple[float, dict[str, str]]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        """requests' own merge (``Session.merge_environment_settings``), except that the environment's proxies
        for ``url``'s origin are read at most every ``PROXY_ENV_SECONDS``."""
        if not self.trust_env or proxies is None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        no_proxy = proxies.get("no_proxy")
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        now = time.monotonic()
        hit = self._environ.get(key)
        if hit is None or now - hit[0] > PROXY_ENV_SECONDS:
            if len(self._environ) >= _PROXY_ORIGINS:
                self._environ.clear()
            hit = self._environ[key] = (now, get_environ_proxies(url, no_proxy=no_proxy))
        for name, value in hit[1].items():
            proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {"proxies": _merge(proxies, self.proxies), "stream": _merge(stream, self.stream),
                "verify": _merge(verify, self.verify), "cert": _merge(cert, self.cert)}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send, then read the answer to the end, all within the deadline."""
        started = time.monotonic()
        deadline = _limit(kwargs.pop("timeout", None), self.deadline)
        streaming = bool(kwargs.pop("stream", False))
        kwargs["timeout"] = (min(CONNECT_TIMEOUT, deadline), deadline)
        kwargs["stream"] = True
        response = super().request(method, url, *args, **kwargs)
        if streaming:
            return response
        chunks: list[bytes] = []
        try:
            for chunk in response.iter_content(_CHUNK):
                chunks.append(chunk)
                if time.monotonic() - started > deadline:
                    raise requests.Timeout(f"no complete answer within {deadline:g}s")
        except requests.RequestException:
            response.close()
            raise
        except Exception as exc:  # urllib3 read errors surface as-is from iter_content on some versions
            response.close()
            raise requests.ConnectionError(type(exc).__name__) from None
        response._content = b"".join(chunks)
        setattr(response, "_content_consumed", True)  # noqa: B010 - requests' own flag for a read body
        response.close()
        return response


def provider_session(deadline: float) -> requests.Session:
    """The manager's shared provider session (see the module docstring)."""
    return DeadlineSession(deadline)
