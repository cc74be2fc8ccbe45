"""Connecting an OAuth2 account (``connect_oauth2``): the flows of ``fluxnex.lifecycle.connect``, stored.

``connect_oauth2`` validates the client settings, and then either fetches a token with the client-credentials
grant, or runs the authorization-code flow with PKCE: a one-shot HTTP server on 127.0.0.1 receives the
redirect, ``state`` is checked, the code is exchanged with the PKCE verifier, every extra callback parameter is
kept (``oauthTokenData.callbackQueryString``, where n8n keeps QuickBooks' ``realmId``), and the connection is
stored ACTIVE. A timeout or a denied consent stores nothing.

* ``issuer``: the authorize and token endpoints (and the revocation endpoint, stored in ``oauthServer``) come
  from the provider's metadata (``fluxnex.lifecycle.oauth2_metadata``); the redirect's ``iss`` is checked (RFC 9207).
* ``reconnect=True`` re-authorizes an existing connection in place: its stored client settings are used (values
  in ``data`` win), and the new token replaces the old one under the same id and creation time, with status
  ACTIVE and failures, last error and retry time cleared. Without it, an existing name is ``ConnectionExists``.
* A public client (``grantType: "pkce"`` without a client secret) sends only its ``client_id`` (RFC 8252).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fluxnex.api.connection_info import parse_tenant
from fluxnex.contract.errors import ConnectionExists, FluxnexError
from fluxnex.lifecycle.connect import OAUTH2_BASE, ConnectError, fetch_token
from fluxnex.n8n.validation import validate

if TYPE_CHECKING:
    from fluxnex.api.connection_info import ConnectionInfo
    from fluxnex.api.manager import CredentialManager
    from fluxnex.contract.schema import CredentialType
    from fluxnex.storage.store import ConnectionRow

__all__ = ["ConnectError", "connect_oauth2"]  # reconnect_target, store_connected: shared with connect_oauth1


def oauth2_type(manager: CredentialManager, type_name: str, tenant: uuid.UUID, name: str) -> CredentialType:
    """The resolved type ``type_name``; an error with the ``connections add`` command when it is not OAuth2."""
    ct = manager.credential_type(type_name)
    if not manager.registry.is_a(ct.name, OAUTH2_BASE):
        import shlex

        raise FluxnexError(
            f"credential type {ct.name!r} is not OAuth2: store it with "
            f"`fluxnex connections add --tenant {tenant} --type {ct.name} --name {shlex.quote(name)}`"
        )
    return ct


def connect_oauth2(
    manager: CredentialManager,
    tenant_id: uuid.UUID | str,
    type_name: str | None,
    name: str,
    data: Mapping[str, Any],
    *,
    open_url: Callable[[str], object] | None = None,
    timeout: float = 300.0,
    port: int = 0,
    issuer: str | None = None,
    reconnect: bool = False,
) -> ConnectionInfo:
    """Authorize ``data``'s client with the provider and store the connection; returns its info.

    ``open_url`` receives the authorization URL (the CLI opens a browser or prints it; tests follow it).
    ``type_name`` may be None when reconnecting (the connection's type) or with ``issuer`` (``oAuth2Api``).
    """
    tenant = parse_tenant(tenant_id)
    existing, type_name, data = reconnect_target(manager, tenant, type_name, name, data, reconnect=reconnect)
    if type_name is None:
        if issuer is None:
            raise FluxnexError(f"connection {name!r} does not exist yet: give its type (--type)")
        type_name = OAUTH2_BASE
    ct = oauth2_type(manager, type_name, tenant, name)
    if issuer is not None:
        from fluxnex.lifecycle.oauth2_metadata import apply_discovery

        data = apply_discovery(data, issuer, http=manager.http, timeout=manager.http_timeout)
    settings = validate(ct, {k: v for k, v in data.items() if k != "oauthTokenData"})
    effective = ct.effective_data(settings)
    if effective.get("grantType") != "clientCredentials":
        effective.setdefault("oauthServer", settings.get("oauthServer"))
    token_data = fetch_token(
        effective, http=manager.http, http_timeout=manager.http_timeout, open_url=open_url, timeout=timeout, port=port
    )
    full = {**settings, "oauthTokenData": token_data["oauthTokenData"]}
    checked = manager.registry.hook.check_token_response(credential_type=ct, data=full)
    return store_connected(manager, tenant, name, ct, existing, full if checked is None else checked)


def reconnect_target(
    manager: CredentialManager, tenant: uuid.UUID, type_name: str | None, name: str, data: Mapping[str, Any], *,
    reconnect: bool,
) -> tuple[ConnectionRow | None, str | None, dict[str, Any]]:
    """(the existing row or None, the type to connect, ``data`` over the stored settings) for a connect flow.

    An existing name is ``ConnectionExists`` unless ``reconnect``; then its type is used (a different
    ``type_name`` is refused) and its stored settings, token aside, are the defaults ``data`` overrides.
    """
    existing = manager.store.get(tenant, name)
    if existing is None:
        return None, type_name, dict(data)
    if not reconnect:
        raise ConnectionExists(tenant, name)
    if type_name is not None and manager.credential_type(type_name).name != existing.type:
        raise FluxnexError(f"connection {name!r} is of type {existing.type!r}, not {type_name!r}")
    stored = {k: v for k, v in manager.decrypt(existing).items() if k != "oauthTokenData"}
    return existing, existing.type, {**stored, **data}


def store_connected(
    manager: CredentialManager, tenant: uuid.UUID, name: str, ct: CredentialType, existing: ConnectionRow | None,
    data: dict[str, Any],
) -> ConnectionInfo:
    """Store a connect flow's result: in place over ``existing`` (same id), else as a new connection."""
    if existing is not None:
        return manager.update_connection(tenant, name, data=data)
    return manager.create_connection(tenant, ct.name, name, data)
