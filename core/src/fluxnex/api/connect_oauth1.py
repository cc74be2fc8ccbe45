"""Connecting an OAuth1 account (``connect_oauth1``): the three-legged flow of ``fluxnex.lifecycle.oauth1``, stored.

The consumer settings are validated, a request token is fetched with the loopback callback, the person approves,
the verifier is exchanged for the access token, and the connection is stored ACTIVE with the access token
response in ``oauthTokenData`` (as n8n stores it). ``reconnect=True`` re-authorizes an existing connection in
place (its stored settings are used; values in ``data`` win). A timeout or a denial stores nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fluxnex.api.connect import reconnect_target, store_connected
from fluxnex.api.connection_info import parse_tenant
from fluxnex.contract.errors import FluxnexError
from fluxnex.lifecycle.oauth1 import OAUTH1_BASE, authorize, effective_data
from fluxnex.n8n.validation import validate

if TYPE_CHECKING:
    from fluxnex.api.connection_info import ConnectionInfo
    from fluxnex.api.manager import CredentialManager

__all__ = ["connect_oauth1", "is_oauth1"]


def is_oauth1(manager: CredentialManager, type_name: str) -> bool:
    """Whether ``type_name`` is ``oAuth1Api`` or extends it."""
    ct = manager.credential_type(type_name)
    return manager.registry.is_a(ct.name, OAUTH1_BASE)


def connect_oauth1(
    manager: CredentialManager,
    tenant_id: uuid.UUID | str,
    type_name: str | None,
    name: str,
    data: Mapping[str, Any],
    *,
    open_url: Callable[[str], object] | None = None,
    timeout: float = 300.0,
    port: int = 0,
    reconnect: bool = False,
) -> ConnectionInfo:
    """Authorize ``data``'s consumer with the provider and store the connection; returns its info."""
    tenant = parse_tenant(tenant_id)
    existing, type_name, data = reconnect_target(manager, tenant, type_name, name, data, reconnect=reconnect)
    if type_name is None:
        raise FluxnexError(f"connection {name!r} does not exist yet: give its type (--type)")
    ct = manager.credential_type(type_name)
    if not manager.registry.is_a(ct.name, OAUTH1_BASE):
        raise FluxnexError(f"credential type {ct.name!r} is not OAuth1 (it does not extend {OAUTH1_BASE})")
    settings = validate(ct, {k: v for k, v in data.items() if k != "oauthTokenData"})
    token = authorize(effective_data(ct, settings), http=manager.http, http_timeout=manager.http_timeout,
                      open_url=open_url, timeout=timeout, port=port)
    return store_connected(manager, tenant, name, ct, existing, {**settings, "oauthTokenData": token["oauthTokenData"]})
