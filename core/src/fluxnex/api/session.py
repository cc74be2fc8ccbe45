"""``CredentialManager.session()``: a ``requests.Session`` that authenticates every request.

Each request reads the connection through ``get_connection`` (so an expiring token is refreshed first) and
adds its credentials. On a 401 (or the type's ``tokenExpiredStatusCode``) from an OAuth2 connection, or from a
type n8n pre-authenticates (its session token is fetched again, :mod:`fluxnex.lifecycle.preauth`) or a
code-authenticated type holding the tokens its code fetched (:mod:`fluxnex.lifecycle.code_tokens_shared`), it
refreshes once through the same single flight and retries once, unless the body is a stream or a generator
that cannot be sent twice. A node-code type whose n8n node answers a challenge (Wise's Strong Customer
Authentication: a 403 with a one-time token to sign) sends the request once more with the signed headers. A
429 whose ``Retry-After`` is at most ``max_retry_after`` seconds is waited out and retried once. urllib3's
debug log lines have their query strings redacted (API keys travel there).

Credentials stay with their origin: redirects are followed here, not by requests, and a hop is authenticated
only while the chain stays on the scheme, host and port the caller addressed. Once a redirect leaves that
origin, no later hop carries the connection's headers, basic auth, query parameters or body fields (requests
alone strips only ``Authorization`` and keeps custom headers and 307/308 bodies). n8n's per-credential domain
restriction (``allowedHttpRequestDomains``/``allowedDomains``, see :mod:`fluxnex.n8n.domains`) is checked before
anything is sent. ``base_url`` lets callers use relative paths.

A connection whose credentials carry TLS options (``httpSslAuth``'s client certificate and CA, a node's
``rejectUnauthorized``: :mod:`fluxnex.n8n.client_tls`) is sent through its own transport adapter: the client
certificate on the addressed origin only, like the other credentials; its trust settings on every hop.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import attrs
import requests
from requests.utils import resolve_proxies

from fluxnex.lifecycle.code_tokens_shared import renews_on_401
from fluxnex.n8n.authenticate import apply_authentication
from fluxnex.n8n.domains import check_request_domain, origin

if TYPE_CHECKING:
    from collections.abc import Callable

    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.storage.store import ConnectionRow

__all__ = ["BoundConnection", "ConnectionSession"]

_OAUTH2_BASE = "oAuth2Api"


@attrs.frozen
class BoundConnection:
    """What a session is given about its connection (by ``CredentialManager.session``).

    ``read`` returns the row and its data, refreshed first when due; ``refresh`` forces a refresh of the
    row that was read (once across every caller that saw its version) and returns the new data.
    """

    tenant_id: uuid.UUID
    name: str
    registry: TypeRegistry
    read: Callable[[], tuple[ConnectionRow, dict[str, Any]]]
    refresh: Callable[[ConnectionRow], dict[str, Any]]


class ConnectionSession(requests.Session):
    """A session bound to one connection; see the module docstring."""

    def __init__(self, connection: BoundConnection, base_url: str | None = None) -> None:
        super().__init__()
        self._connection = connection
        self._tenant_id = connection.tenant_id
        self._name = connection.name
        self._hop = threading.local()
        self._tls_adapters: dict[str, requests.adapters.HTTPAdapter] = {}
        self._tls_lock = threading.Lock()
        #: Relative URLs given to ``get``/``post``/``request`` are resolved against this (None: absolute only).
        self.base_url = base_url
        self.default_timeout: float = 30.0
        #: The longest ``Retry-After`` (seconds) a 429 may ask for and still be waited out and retried once.
        self.max_retry_after: float = 30.0

    def __repr__(self) -> str:
        return f"<ConnectionSession tenant={self._tenant_id} connection={self._name!r}>"

    def _authenticate(
        self, request: requests.PreparedRequest, type_name: str, data: dict[str, Any]
    ) -> requests.PreparedRequest:
        registry = self._connection.registry
        ct = registry.get(type_name)
        is_oauth2 = registry.is_a(type_name, _OAUTH2_BASE)
        return apply_authentication(ct, data, request, hook=registry.hook, is_oauth2=is_oauth2)

    def _renews_on_expiry(self, type_name: str) -> bool:
        """OAuth2 (refresh) and n8n's pre-authenticated types (fetch the session token again) renew on a 401."""
        registry = self._connection.registry
        if registry.is_a(type_name, _OAUTH2_BASE):
            return True
        from fluxnex.n8n.preauth import handles

        return handles(registry.get(type_name))

    def _challenge(self, type_name: str, data: dict[str, Any], response: requests.Response) -> dict[str, str] | None:
        """Headers to send the request again with, when a node-code type's node answers a challenge (Wise's SCA)."""
        from fluxnex.n8n.code_auth import nodes

        entry = nodes.get(type_name)
        ct = self._connection.registry.get(type_name)
        if entry is None or entry.challenge is None or ct.authenticate is not None:
            return None
        return entry.challenge(ct.effective_data(data), response.status_code, response.headers)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """``requests.Session.request``, a relative ``url`` resolved against ``base_url``."""
        if self.base_url and isinstance(url, str) and not urlsplit(url).scheme:
            url = urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Authenticate and send; refresh once on an expired-token status, wait out one 429 ``Retry-After``."""
        kwargs.setdefault("timeout", self.default_timeout)
        chain: _Chain | None = getattr(self._hop, "chain", None)
        if chain is not None:  # a redirect hop that resolve_redirects (below) sends through us
            return self._send_hop(request, chain, **kwargs)
        allow_redirects = bool(kwargs.pop("allow_redirects", True))
        original = request.copy()
        row, data = self._connection.read()
        check_request_domain(data, original.url or "", what=f"connection {self._name!r}")
        response = self._exchange(original.copy(), row.type, data, allow_redirects, kwargs)
        replayable = _replayable(original)
        again = self._challenge(row.type, data, response) if replayable else None
        if again is not None:
            response.close()
            original.headers.update(again)
            response = self._exchange(original.copy(), row.type, data, allow_redirects, kwargs)
        if self._renews_on_expiry(row.type) or renews_on_401(data):
            expired_status = int(data.get("tokenExpiredStatusCode") or 401)
            if response.status_code == expired_status and replayable:
                response.close()
                # once per version seen: if another caller refreshed since we read the row, its token is used
                data = self._connection.refresh(row)
                response = self._exchange(original.copy(), row.type, data, allow_redirects, kwargs)
        if response.status_code == 429 and replayable:
            delay = _retry_after(response)
            if delay is not None and delay <= self.max_retry_after:
                response.close()
                time.sleep(delay)
                response = self._exchange(original.copy(), row.type, data, allow_redirects, kwargs)
        return response

    def _exchange(self, request: requests.PreparedRequest, type_name: str, data: dict[str, Any],
                  allow_redirects: bool, kwargs: dict[str, Any]) -> requests.Response:
        """Send ``request`` authenticated, then follow redirects with credentials only on its own origin."""
        kwargs = dict(kwargs)
        kwargs.setdefault("stream", self.stream)
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("cert", self.cert)
        if "proxies" not in kwargs:
            kwargs["proxies"] = resolve_proxies(request, dict(self.proxies), self.trust_env)
        plain = request.copy()  # what every hop is rebuilt from: it never held a credential
        self._hop.tls = self._tls_for(origin(plain.url or ""), type_name, data)
        try:
            first = self._send_shown_as(self._authenticate(request, type_name, data), plain.url,
                                        allow_redirects=False, **kwargs)
            if not allow_redirects or not first.is_redirect:
                return first
            self._hop.chain = _Chain(origin(plain.url or ""), type_name, data)
            try:
                history = list(self.resolve_redirects(first, plain, **kwargs))
            finally:
                self._hop.chain = None
        finally:
            self._hop.tls = None
        if not history:
            return first
        history.insert(0, first)
        last: requests.Response = history.pop()
        last.history = history
        return last

    def _tls_for(self, where: tuple[str, str, int | None], type_name: str, data: dict[str, Any]) -> _Tls | None:
        """The transports of a connection whose credentials carry TLS options; None for the default one."""
        from fluxnex.n8n.client_tls import TlsOptions, has_tls_options, tls_options

        if not has_tls_options(type_name):
            return None
        options = tls_options(type_name, self._connection.registry.get(type_name).effective_data(data))
        if options is None:
            return None
        trust = TlsOptions(ca=options.ca, verify=options.verify)
        return _Tls(where, self._tls_adapter(options),
                    self._tls_adapter(trust) if trust.ca or not trust.verify else None)

    def _tls_adapter(self, options: Any) -> requests.adapters.HTTPAdapter:
        from fluxnex.api._tls import TlsAdapter, options_key

        key = options_key(options)
        with self._tls_lock:
            adapter = self._tls_adapters.get(key)
            if adapter is None:
                adapter = self._tls_adapters[key] = TlsAdapter(options)
            return adapter

    def get_adapter(self, url: str) -> requests.adapters.BaseAdapter:
        """While a connection with TLS options sends: its client certificate on its origin (where its other
        credentials go, no further), its trust (CA, verification) on every hop, as n8n's agent options."""
        tls: _Tls | None = getattr(self._hop, "tls", None)
        if tls is None:
            return super().get_adapter(url)
        chain: _Chain | None = getattr(self._hop, "chain", None)
        if origin(url) == tls.origin and (chain is None or not chain.left):
            return tls.full
        return tls.trust if tls.trust is not None else super().get_adapter(url)

    def close(self) -> None:
        super().close()
        with self._tls_lock:
            for adapter in self._tls_adapters.values():
                adapter.close()
            self._tls_adapters.clear()

    def _send_hop(self, request: requests.PreparedRequest, chain: _Chain, **kwargs: Any) -> requests.Response:
        if not chain.left and origin(request.url or "") == chain.origin:
            return self._send_shown_as(self._authenticate(request.copy(), chain.type_name, chain.data),
                                       request.url, **kwargs)
        chain.left = True  # from here on the chain carries no credential, even if it comes back
        return super().send(request, **kwargs)

    def _send_shown_as(self, request: requests.PreparedRequest, shown: str | None, **kwargs: Any
                       ) -> requests.Response:
        """Send ``request``; where its authentication changed the URL (a key in the query, a token in the path),
        the caller's URL ``shown`` stands for it in the response's ``url``, in an exception's message and in
        urllib3's log lines, so that the secret appears in none of them."""
        sent = request.url or ""
        if not shown or shown == sent:
            return super().send(request, **kwargs)
        swaps = _swaps(sent, shown)
        _SHOWN.swaps = swaps
        failure: requests.RequestException | None = None
        try:
            response = super().send(request, **kwargs)
        except requests.RequestException as exc:  # raised below, outside this block: no secret in its context
            failure = type(exc)(_swapped(str(exc), swaps), response=exc.response)
        finally:
            _SHOWN.swaps = ()
        if failure is not None:
            raise failure
        if response.url == sent:
            response.url = shown
        return response


@attrs.define
class _Chain:
    """One redirect chain: the origin credentials may go to, and whether the chain has left it."""

    origin: tuple[str, str, int | None]
    type_name: str
    data: dict[str, Any] = attrs.field(repr=False)
    left: bool = False


@attrs.frozen
class _Tls:
    """A connection's transports: ``full`` (client certificate and trust) for ``origin``, ``trust`` elsewhere
    (None: the default transport)."""

    origin: tuple[str, str, int | None]
    full: requests.adapters.HTTPAdapter
    trust: requests.adapters.HTTPAdapter | None


def _retry_after(response: requests.Response) -> float | None:
    """Seconds a 429 asks to wait (``Retry-After`` as seconds or an HTTP date), else None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


#: the (authenticated, shown) URL pairs of the request this thread is sending (see ``_send_shown_as``)
_SHOWN = threading.local()


def _swaps(sent: str, shown: str) -> tuple[tuple[str, str], ...]:
    """The authenticated URL and its path with query (as urllib3 writes them), each with the caller's."""
    def path(url: str) -> str:
        parts = urlsplit(url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    return (sent, shown), (path(sent), path(shown))


def _swapped(text: str, swaps: tuple[tuple[str, str], ...]) -> str:
    for secret, shown in swaps:
        text = text.replace(secret, shown)
    return text


class _RedactQuery(logging.Filter):
    """Strip query strings from urllib3's request log lines: API keys travel there (HubSpot's ``hapikey``), and
    show the caller's path where authentication put a secret into it (Telegram's ``/bot<token>/``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            swaps = getattr(_SHOWN, "swaps", ())
            record.args = tuple(_QUERY.sub("?[redacted]", _swapped(a, swaps)) if isinstance(a, str) else a
                                for a in record.args)
        return True


_QUERY = re.compile(r"\?[^\s\"]*")
logging.getLogger("urllib3.connectionpool").addFilter(_RedactQuery())


def _replayable(request: requests.PreparedRequest) -> bool:
    body = request.body
    return body is None or isinstance(body, str | bytes)
