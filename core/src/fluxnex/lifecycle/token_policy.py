"""``TokenPolicy``: a manager's token timing rules, from its settings and the types' plugins.

When a token of a type is refreshed on demand (the type's ``refresh_leeway`` or the manager's), when it expires
(the token response, else the ``token_expires_at`` hook), and the plaintext columns stored with it
(``expires_at``, ``refresh_expires_at``, ``refresh_at``; see ``fluxnex.lifecycle.tokens``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fluxnex.contract.errors import FluxnexError
from fluxnex.lifecycle.tokens import refresh_at, refresh_token_expiry, token_expiry

if TYPE_CHECKING:
    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.contract.schema import CredentialType
    from fluxnex.lifecycle.provider_http import ProviderHTTP

__all__ = ["TokenPolicy"]

UTC = dt.UTC


class TokenPolicy:
    """Token timing for one registry: ``leeway`` and ``fraction`` are the manager's defaults."""

    def __init__(self, registry: TypeRegistry, http: ProviderHTTP, *, leeway: float, fraction: float) -> None:
        self.registry = registry
        self.http = http
        self.leeway = leeway
        self.fraction = fraction

    def leeway_for(self, type_name: str) -> float:
        """Seconds before expiry at which tokens of ``type_name`` are refreshed."""
        try:
            value = getattr(self.registry.get(type_name), "refresh_leeway", None)
        except FluxnexError:
            value = None
        return float(value) if isinstance(value, int | float) else self.leeway

    def expires_at_for(self, ct: CredentialType, data: Mapping[str, Any]) -> dt.datetime | None:
        """Expiry of the access token in ``data``: from the token response, else from a plugin hook."""
        from fluxnex.lifecycle import code_tokens_shared
        from fluxnex.n8n import preauth

        if preauth.handles(ct):  # n8n's pre-authentication: empty field -> due now; known expiry; else none
            when = preauth.expires_at(ct, data)
            return None if when is None else dt.datetime.fromtimestamp(max(0.0, when), UTC)
        fetches, when = code_tokens_shared.expires_at(ct, data)  # the same rule for tokens code fetches first
        if fetches:
            return None if when is None else dt.datetime.fromtimestamp(max(0.0, when), UTC)
        expiry = token_expiry(data)
        if expiry is not None or not isinstance(data.get("oauthTokenData"), Mapping):
            return expiry
        value = self.registry.hook.token_expires_at(credential_type=ct, data=dict(data), http=self.http.session)
        return None if value is None else dt.datetime.fromtimestamp(float(value), UTC)

    def token_columns(self, ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
        """The plaintext token columns for ``data``: ``expires_at``, ``refresh_expires_at``, ``refresh_at``."""
        expires_at = self.expires_at_for(ct, data)
        return {
            "expires_at": expires_at,
            "refresh_expires_at": refresh_token_expiry(data),
            "refresh_at": refresh_at(data, expires_at, self.fraction),
        }
