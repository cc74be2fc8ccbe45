"""The shapes pre-authentication speaks in: a token request, the answer, a type's spec, its errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from fluxnex.contract.errors import FluxnexError

__all__ = ["PreAuthError", "Spec", "TokenRequest", "TokenResponse", "jwt_exp", "lifetime_from"]


class PreAuthError(FluxnexError):
    """A token could not be fetched; ``permanent`` when the stored credentials themselves were refused."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@attrs.frozen
class TokenRequest:
    """One HTTP request as n8n's ``preAuthentication`` sends it. ``json`` and ``form`` are exclusive bodies;
    ``basic`` is HTTP Basic (user, password); ``verify`` False skips TLS verification (Venafi's option)."""

    method: str
    url: str
    headers: dict[str, str] = attrs.field(factory=dict, repr=False)
    json: Any = attrs.field(default=None, repr=False)
    form: dict[str, str] | None = attrs.field(default=None, repr=False)
    basic: tuple[str, str] | None = attrs.field(default=None, repr=False)
    verify: bool = True

    def to_json(self) -> dict[str, Any]:
        """A plain dict of the request (for differential comparisons; it holds the secrets it sends)."""
        return {"method": self.method, "url": self.url, "headers": dict(self.headers), "json": self.json,
                "form": self.form, "basic": list(self.basic) if self.basic else None, "verify": self.verify}


@attrs.frozen
class TokenResponse:
    """The token endpoint's answer: status, headers (each name lower-case, every value kept), parsed body."""

    status: int
    headers: Mapping[str, list[str]] = attrs.field(repr=False)
    body: Any = attrs.field(repr=False)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, Mapping) else None


@attrs.frozen
class Spec:
    """One type's ``preAuthentication``: the field it fills, how it asks, what it keeps (fields, lifetime).

    ``what`` names the token in errors."""

    field: str
    what: str
    build: Callable[[Mapping[str, Any], float], TokenRequest]
    parse: Callable[[TokenResponse, float], tuple[dict[str, Any], float | None]]
    #: Other fields the answer fills (Salesforce's ``instanceUrl``).
    also: tuple[str, ...] = ()


def jwt_exp(token: object, now: float) -> float | None:
    """Seconds until a JWT's ``exp`` (read, not verified: only to know when to fetch again), else None."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp) - now
    return None


def lifetime_from(response: TokenResponse, now: float) -> float | None:
    """An OAuth2-style ``expires_in`` (seconds), else an ISO ``expires_at`` (GitHub) as seconds from ``now``."""
    value = response.field("expires_in")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    stamp = response.field("expires_at")
    if isinstance(stamp, str):
        import datetime as dt

        try:
            when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp() - now
    return None
