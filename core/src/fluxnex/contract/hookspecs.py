"""The plugin contract: FluxNex's pluggy marker and hook specifications, nothing else.

Arguments are only ever added to a hook, never removed or reordered; an implementation may accept any
subset of them (pluggy passes only the ones it names).
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("fluxnex")
hookimpl = pluggy.HookimplMarker("fluxnex")


@hookspec
def register_credential_types(register: Any) -> None:
    """Call ``register(SomeType)`` once for each credential type the plugin ships.

    ``register`` accepts a ``CredentialType`` instance, a class written in class style, or n8n JSON.
    """


@hookspec(firstresult=True)
def refresh_token(credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
    """Return the new data dict after refreshing the token of a type you handle, else None.

    ``credential_type`` is the resolved ``CredentialType``, ``data`` the connection's current data, ``http`` a
    ``requests.Session`` with timeouts. Raise ``fluxnex.RefreshError`` on failure. Core's generic OAuth2
    refresher answers last (``trylast``) for every type extending ``oAuth2Api``.
    """


@hookspec(firstresult=True)
def authenticate(credential_type: Any, data: dict[str, Any], request: Any) -> Any:
    """Add credentials to ``request`` (a ``PreparedRequest``) for a type whose auth is code; return it, else None.

    Types with a declarative ``authenticate`` block need no implementation.
    """


@hookspec(firstresult=True)
def test_connection(credential_type: Any, data: dict[str, Any], http: Any) -> Any:
    """Check the credentials of a type you handle and return ``(ok: bool, message: str)``, else None.

    For tests a declarative ``test.request`` cannot express; ``http`` is an authenticated ``requests.Session``.
    """


@hookspec(firstresult=True)
def token_expires_at(credential_type: Any, data: dict[str, Any], http: Any) -> float | None:
    """Return the epoch second the access token in ``data`` expires, for providers whose token response has no
    ``expires_in`` (Salesforce), else None."""


@hookspec(firstresult=True)
def check_token_response(credential_type: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    """Raise ``FluxnexError`` naming the provider when freshly connected ``data`` breaks its contract, else
    return a replacement data dict or None (called by ``connect`` before anything is stored)."""


@hookspec(firstresult=True)
def revoke_token(credential_type: Any, data: dict[str, Any], http: Any) -> bool | None:
    """Revoke the connection's token at the provider and return True, for types you handle, else None."""


@hookspec
def connection_event(event: Any) -> None:
    """Receive one connection event (``fluxnex.lifecycle.events.Event``: type, connection id, tenant, name,
    status, error; never a secret), called by the worker's dispatcher at least once per event, before its webhooks
    are queued."""
