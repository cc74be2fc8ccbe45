"""The manager's one ``requests.Session`` for provider calls: bounded sockets, an overall deadline per request.

- One session per manager, shared by every thread (urllib3's pools are thread-safe), so threads that come
  and go leave no sessions or sockets behind: at most ``POOL_MAXSIZE`` kept-alive sockets per host, for
  ``POOL_HOSTS`` hosts. Cookies are refused: one tenant's provider never sees another's.
- ``timeout`` is an overall deadline, not requests' per-read timeout: the connect may take up to
  ``CONNECT_TIMEOUT`` seconds, the answer may take until the deadline to start and is read to the end within
  it, so a slow token endpoint is waited for (it may already have rotated the refresh token: giving up on its
  answer early would lose the grant) and nothing hangs forever. A request past the deadline raises
  ``requests.Timeout``. A caller's own shorter ``timeout`` wins.
- The proxy environment (``HTTPS_PROXY``, ``NO_PROXY``, ...) and ``~/.netrc`` are read once per origin every
  ``PROXY_ENV_SECONDS``, not on every request (requests walks the whole environment twice per request, a
  measurable part of a refresh's CPU).
- A plain request (a lower-case ASCII host, a path of unreserved characters, a text or bytes body, no files,
  params, cookies, hooks or custom auth: every token request) is prepared directly and handed to the
  transport adapter, skipping requests' generic merging of session and request settings (about a third of a
  token request's CPU). Headers, ``Content-Length``, basic auth, proxies, TLS settings, timeouts, errors and
  redirects come out as requests' own ``Session.request`` makes them; anything else takes requests' path.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from requests.cookies import RequestsCookieJar
from requests.models import PreparedRequest
from requests.sessions import merge_setting, preferred_clock
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies, get_netrc_auth

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
#: URLs requests' ``prepare_url`` leaves exactly as they are: nothing to IDNA-encode, lower-case, requote or
#: complete (a path is present; no ``%``, userinfo, fragment or IPv6 literal).
_PLAIN_URL: Final = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9\-._~/!$&'()*+,;=:@]*"
                               r"(?:\?[A-Za-z0-9\-._~/!$&'()*+,;=:@?]*)?")
#: ``Session.request`` keywords the direct path takes (any other one not None takes requests' path).
_DIRECT_KEYWORDS: Final = frozenset({"data", "headers", "auth", "timeout", "allow_redirects", "stream", "proxies",
                                     "verify", "cert"})


_K = TypeVar("_K")
_V = TypeVar("_V")


def _per_origin(cache: dict[_K, tuple[float, _V]], key: _K, read: Callable[[], _V]) -> _V:
    """``read()`` for ``key``, kept for ``PROXY_ENV_SECONDS`` (at most ``_PROXY_ORIGINS`` keys, then all dropped)."""
    now = time.monotonic()
    hit = cache.get(key)
    if hit is None or now - hit[0] > PROXY_ENV_SECONDS:
        if len(cache) >= _PROXY_ORIGINS:
            cache.clear()
        hit = cache[key] = (now, read())
    return hit[1]


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
        self._refuse_cookies = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
        self.cookies.set_policy(self._refuse_cookies)
        adapter = HTTPAdapter(pool_connections=POOL_HOSTS, pool_maxsize=POOL_MAXSIZE)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = "fluxnex"
        self._environ: dict[tuple[str, str, str | None], tuple[float, dict[str, str]]] = {}
        self._netrc: dict[tuple[str, str], tuple[float, tuple[str, str] | None]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        """requests' own merge (``Session.merge_environment_settings``), except that the environment's proxies
        for ``url``'s origin are read at most every ``PROXY_ENV_SECONDS``."""
        if not self.trust_env or proxies is None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        no_proxy = proxies.get("no_proxy")
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        environ = _per_origin(self._environ, key, lambda: get_environ_proxies(url, no_proxy=no_proxy))
        for name, value in environ.items():
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
        prepared = None if args else self._plain(method, url, kwargs)
        if prepared is None:
            response = super().request(method, url, *args, **kwargs)
        else:
            response = self._send_plain(prepared, kwargs)
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

    # -- the direct path for plain requests ------------------------------------------------------------

    def _plain(self, method: str | bytes, url: str | bytes, kwargs: Mapping[str, Any]) -> PreparedRequest | None:
        """``prepare_request``'s result for a plain request (module docstring), or None: requests' path."""
        if not isinstance(method, str) or not isinstance(url, str) or not _PLAIN_URL.fullmatch(url):
            return None
        if any(value is not None for key, value in kwargs.items() if key not in _DIRECT_KEYWORDS):
            return None  # params, files, json, cookies or hooks
        data, auth = kwargs.get("data"), kwargs.get("auth")
        if data is not None and not isinstance(data, str | bytes):
            return None
        if auth is not None and type(auth) is not HTTPBasicAuth and not (isinstance(auth, tuple) and len(auth) == 2):
            return None
        if self.auth is not None or self.params or any(self.hooks.values()) or len(self.cookies):
            return None
        if getattr(self.cookies, "_policy", None) is not self._refuse_cookies:
            return None  # somebody let cookies in: requests' path stores and sends them
        headers = CaseInsensitiveDict(self.headers)
        for name, value in (kwargs.get("headers") or {}).items():  # merge_setting: the request's wins, None drops
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        prepared = PreparedRequest()
        prepared.method = method.upper()
        prepared.url = url
        prepared.prepare_headers(headers)  # validates names and values as requests does
        prepared.body = data or None  # prepare_body keeps a text or bytes body as it is, an empty one as None
        prepared.prepare_content_length(prepared.body)
        # requests' merged jar: empty, so no Cookie header (the redirects resolved below fill it as requests' do)
        setattr(prepared, "_cookies", RequestsCookieJar())  # noqa: B010 - typeshed does not declare it
        if auth is None and self.trust_env:
            auth = self._netrc_auth(url)
        if auth is not None:
            prepared.prepare_auth(auth, url)
        return prepared

    def _netrc_auth(self, url: str) -> tuple[str, str] | None:
        """requests' ``get_netrc_auth(url)``, read once per origin every ``PROXY_ENV_SECONDS``."""
        parts = urlsplit(url)
        return _per_origin(self._netrc, (parts.scheme, parts.netloc), lambda: get_netrc_auth(url))

    def _send_plain(self, prepared: PreparedRequest, kwargs: Mapping[str, Any]) -> requests.Response:
        """``Session.request``'s sending of a prepared plain request: its settings, its adapter, its redirects."""
        url = cast(str, prepared.url)
        settings = self.merge_environment_settings(
            url, kwargs.get("proxies") or {}, True, kwargs.get("verify"), kwargs.get("cert"))
        send: dict[str, Any] = {"timeout": kwargs["timeout"], **settings}
        start = preferred_clock()
        response = self.get_adapter(url=url).send(prepared, **send)
        response.elapsed = dt.timedelta(seconds=preferred_clock() - start)
        # Cookies are not extracted: this session's policy refuses every one (``_plain`` checked it).
        if kwargs.get("allow_redirects", True):
            history = list(self.resolve_redirects(response, prepared, **send))
            if history:
                history.insert(0, response)
                response = history.pop()
                response.history = history
        elif response.is_redirect:
            following = next(self.resolve_redirects(response, prepared, yield_requests=True, **send), None)
            setattr(response, "_next", following)  # noqa: B010 - what Session.send sets for Response.next
        return response


def provider_session(deadline: float) -> requests.Session:
    """The manager's shared provider session (see the module docstring)."""
    return DeadlineSession(deadline)
