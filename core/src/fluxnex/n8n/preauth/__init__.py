"""n8n's ``preAuthentication``: the session token some types fetch with the user's credentials, as data.

Thirteen types of ``n8n-nodes-base`` 2.41 declare a hidden property with ``typeOptions.expirable`` and a
``preAuthentication(credentials)`` method that logs in and returns the value of that property (a session token,
a JWT, a cookie, an installation token). n8n calls it when the field is empty and again once when a request with
the stored value answers 401. This package is the pure half of that: for each type, the token request it sends
(:func:`token_request`) and what it keeps from the answer (:func:`parse_response`), read from each class's code;
no network, no clock of its own (``now`` is passed in). ``fluxnex.lifecycle.preauth`` sends the request through
the exactly-once refresh protocol and stores the result.

Besides the field n8n fills, FluxNex stores :data:`EXPIRY_FIELD`: ``{"fetched_at": epoch}``, plus
``expires_at`` and ``expires_in`` when the answer says how long the token lives (``expires_in``, an ISO
``expires_at``, a JWT's ``exp``), so a token is fetched again before it lapses rather than only after a 401.
Without them, the token is reused until a request answers 401 (n8n's only rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from fluxnex.n8n.preauth._model import PreAuthError, TokenRequest, TokenResponse
from fluxnex.n8n.preauth._specs import SPECS

if TYPE_CHECKING:
    from fluxnex.contract.schema import CredentialType

__all__ = [
    "EXPIRY_FIELD",
    "PreAuthError",
    "TokenRequest",
    "TokenResponse",
    "expirable_field",
    "expires_at",
    "handles",
    "implemented",
    "parse_response",
    "token_request",
    "updated_data",
]

#: Where FluxNex keeps the known expiry of a pre-authentication token (absent when the provider gives none).
EXPIRY_FIELD: Final = "preAuthTokenData"


def implemented() -> set[str]:
    """The names of the n8n types whose ``preAuthentication`` FluxNex implements."""
    return set(SPECS)


def expirable_field(ct: CredentialType) -> str | None:
    """The name of ``ct``'s hidden property with ``typeOptions.expirable`` (the one pre-authentication fills)."""
    for prop in ct.properties:
        if (prop.type_options or {}).get("expirable"):
            return prop.name
    return None


def handles(ct: CredentialType) -> bool:
    """Whether ``ct`` is one of the implemented types and declares its expirable field."""
    spec = SPECS.get(ct.name)
    return spec is not None and expirable_field(ct) == spec.field


def token_request(ct: CredentialType, effective: Mapping[str, Any], now: float) -> TokenRequest:
    """The request ``ct``'s ``preAuthentication`` sends for the ``effective`` data (defaults applied) at ``now``."""
    return SPECS[ct.name].build(effective, now)


def parse_response(ct: CredentialType, response: TokenResponse, now: float) -> dict[str, Any]:
    """The fields to store from the token endpoint's answer: the expirable one (and the type's others), plus
    :data:`EXPIRY_FIELD` when the lifetime is known. ``PreAuthError`` when the answer carries no token."""
    spec = SPECS[ct.name]
    fields, lifetime = spec.parse(response, now)
    token = fields.get(spec.field)
    if not isinstance(token, str) or not token:
        raise PreAuthError(f"{ct.name}: the token endpoint answered without a {spec.what}", permanent=False)
    known: dict[str, float] = {"fetched_at": now}
    if lifetime is not None and lifetime > 0:
        known.update(expires_at=now + lifetime, expires_in=lifetime)
    fields[EXPIRY_FIELD] = known
    return fields


def expires_at(ct: CredentialType, data: Mapping[str, Any]) -> float | None:
    """When the stored token must be fetched again: 0 when the field is empty (now), the known expiry, else None
    (reused until a request answers 401)."""
    field = SPECS[ct.name].field
    if not data.get(field):
        return 0.0
    known = data.get(EXPIRY_FIELD)
    value = known.get("expires_at") if isinstance(known, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def updated_data(ct: CredentialType, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` as it is stored over ``old``: when a credential changed, the old token (fetched with the old
    credentials) is dropped, so the next use logs in with the new ones."""
    token_fields = {SPECS[ct.name].field, EXPIRY_FIELD, *SPECS[ct.name].also}
    changed = any(old.get(k) != new.get(k) for k in set(old) | set(new) if k not in token_fields)
    return {k: v for k, v in new.items() if k not in token_fields} if changed else dict(new)
