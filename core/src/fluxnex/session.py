"""``CredentialManager.session()``: a ``requests.Session`` that authenticates every request.

Each request reads the connection through ``get_connection`` (so an expiring token is refreshed first) and
adds its credentials. On a 401 (or the type's ``tokenExpiredStatusCode``) from an OAuth2 connection, it
refreshes once through the same single flight and retries once, unless the body is a stream or a generator
that cannot be sent twice. A 429 whose ``Retry-After`` is at most ``max_retry_after`` seconds is waited out and
retried once. urllib3's debug log lines have their query strings redacted (API keys travel there).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import requests

from .authenticate import apply_authentication

if TYPE_CHECKING:
    from .manager import CredentialManager

__all__ = ["ConnectionSession"]

_OAUTH2_BASE = "oAuth2Api"


class ConnectionSession(requests.Session):
    """A session bound to one connection; see the module docstring."""

    def __init__(self, manager: CredentialManager, tenant_id: uuid.UUID, name: str) -> None:
        super().__init__()
        self._manager = manager
        self._tenant_id = tenant_id
        self._name = name
        self.default_timeout: float = 30.0
        #: The longest ``Retry-After`` (seconds) a 429 may ask for and still be waited out and retried once.
        self.max_retry_after: float = 30.0

    def __repr__(self) -> str:
        return f"<ConnectionSession tenant={self._tenant_id} connection={self._name!r}>"

    def _authenticate(
        self, request: requests.PreparedRequest, type_name: str, data: dict[str, Any]
    ) -> requests.PreparedRequest:
        manager = self._manager
        ct = manager.credential_type(type_name)
        is_oauth2 = manager.registry.is_a(type_name, _OAUTH2_BASE)
        return apply_authentication(ct, data, request, hook=manager.registry.hook, is_oauth2=is_oauth2)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Authenticate and send; refresh once on an expired-token status, wait out one 429 ``Retry-After``."""
        kwargs.setdefault("timeout", self.default_timeout)
        original = request.copy()
        row, data = self._manager.read_connection(self._tenant_id, self._name)
        response = super().send(self._authenticate(request, row.type, data), **kwargs)
        replayable = _replayable(original)
        if self._manager.registry.is_a(row.type, _OAUTH2_BASE):
            expired_status = int(data.get("tokenExpiredStatusCode") or 401)
            if response.status_code == expired_status and replayable:
                response.close()
                # once per version seen: if another caller refreshed since we read the row, its token is used
                data = self._manager.refresher.ensure_fresh(row, force=True)
                response = super().send(self._authenticate(original.copy(), row.type, data), **kwargs)
        if response.status_code == 429 and replayable:
            delay = _retry_after(response)
            if delay is not None and delay <= self.max_retry_after:
                response.close()
                time.sleep(delay)
                response = super().send(self._authenticate(original.copy(), row.type, data), **kwargs)
        return response


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


class _RedactQuery(logging.Filter):
    """Strip query strings from urllib3's request log lines: API keys travel there (HubSpot's ``hapikey``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_QUERY.sub("?[redacted]", a) if isinstance(a, str) else a for a in record.args)
        return True


_QUERY = re.compile(r"\?[^\s\"]*")
logging.getLogger("urllib3.connectionpool").addFilter(_RedactQuery())


def _replayable(request: requests.PreparedRequest) -> bool:
    body = request.body
    return body is None or isinstance(body, str | bytes)
