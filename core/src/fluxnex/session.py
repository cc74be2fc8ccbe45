"""``CredentialManager.session()``: a ``requests.Session`` that authenticates every request.

Each request reads the connection through ``get_connection`` (so an expiring token is refreshed first) and
adds its credentials. On a 401 (or the type's ``tokenExpiredStatusCode``) from an OAuth2 connection, it
refreshes once through the same single flight and retries once, unless the body is a stream or a generator
that cannot be sent twice.
"""

from __future__ import annotations

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
        """Authenticate, send, and on an expired-token status refresh once and resend once."""
        kwargs.setdefault("timeout", self.default_timeout)
        original = request.copy()
        row, data = self._manager.read_connection(self._tenant_id, self._name)
        response = super().send(self._authenticate(request, row.type, data), **kwargs)
        if not self._manager.registry.is_a(row.type, _OAUTH2_BASE):
            return response
        expired_status = int(data.get("tokenExpiredStatusCode") or 401)
        if response.status_code != expired_status or not _replayable(original):
            return response
        response.close()
        # once per version seen: if another caller refreshed since we read the row, its token is used
        fresh = self._manager.refresher.ensure_fresh(row, force=True)
        return super().send(self._authenticate(original, row.type, fresh), **kwargs)


def _replayable(request: requests.PreparedRequest) -> bool:
    body = request.body
    return body is None or isinstance(body, str | bytes)
