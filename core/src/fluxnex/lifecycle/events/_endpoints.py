"""Webhook endpoints: add (the signing secret is shown once, stored encrypted with the keyring), list, remove."""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fluxnex.contract.errors import FluxnexError
from fluxnex.lifecycle.events._signing import new_secret
from fluxnex.storage.store._outbox import EVENT_TYPES
from fluxnex.storage.store._webhooks import Endpoint, WebhookStore, decrypt_secret, encrypt_secret

if TYPE_CHECKING:
    from fluxnex.lifecycle.events._source import EventSource

__all__ = ["Webhooks", "check_events", "endpoint_secret"]

def check_events(events: Sequence[str]) -> tuple[str, ...]:
    """The event types named (short names like ``expired`` allowed); one line naming the unknown ones."""
    out = []
    for name in events:
        full = name if name.startswith("connection.") else f"connection.{name}"
        if full not in EVENT_TYPES:
            known = ", ".join(EVENT_TYPES)
            raise FluxnexError(f"unknown event type {name!r}: use one of {known}")
        out.append(full)
    return tuple(dict.fromkeys(out))


def _check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FluxnexError(f"webhook URL must be an absolute http(s) URL, got {url[:200]!r}")
    if parts.username or parts.password:
        raise FluxnexError("webhook URL must not carry a user name or password (the signature authenticates)")
    return url


def _tenant(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise FluxnexError(f"tenant must be a UUID, got {str(value)[:60]!r}") from None


def endpoint_secret(source: EventSource, endpoint: Endpoint) -> str:
    """The plaintext signing secret of ``endpoint`` (decrypted with the source's keyring)."""
    return decrypt_secret(source.keyring, endpoint)


class Webhooks:
    """The webhook endpoints of a database (``source``: a ``CredentialManager``, or anything with its parts)."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self.store = WebhookStore(source.store.engine)

    def add(self, url: str, events: Sequence[str] = (), tenant: uuid.UUID | str | None = None) -> tuple[Endpoint, str]:
        """Add an endpoint; return it and its signing secret (``whsec_...``), which is not shown again.

        Without ``events`` it receives every type but ``connection.refreshed`` (frequent: subscribe explicitly).
        """
        url = _check_url(url)
        wanted = check_events(events) if events else None
        tenant_id = None if tenant is None else _tenant(tenant)
        source = self.source
        source.key_guard.check(source.store, source.keyring)
        endpoint_id = uuid.uuid4()
        secret = new_secret()
        envelope = encrypt_secret(source.keyring, endpoint_id, secret)
        endpoint = Endpoint(endpoint_id, url, tenant_id, wanted, envelope, dt.datetime.now(dt.UTC))
        self.store.add_endpoint(endpoint)
        return endpoint, secret

    def list(self) -> list[Endpoint]:
        """Every endpoint, oldest first."""
        return self.store.endpoints()

    def remove(self, endpoint_id: uuid.UUID | str) -> None:
        """Remove an endpoint and its queued deliveries; ``FluxnexError`` naming it when there is none."""
        try:
            parsed = endpoint_id if isinstance(endpoint_id, uuid.UUID) else uuid.UUID(str(endpoint_id))
        except ValueError:
            raise FluxnexError(f"webhook endpoint id must be a UUID, got {str(endpoint_id)[:60]!r}") from None
        if not self.store.remove_endpoint(parsed):
            raise FluxnexError(f"no webhook endpoint {parsed}: see `fluxnex webhooks list`")
