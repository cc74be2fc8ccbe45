"""Token timing: expiry columns from token data, and when a token is due for refresh.

"Due" scales with the token's own lifetime: a token is refreshed once its remaining lifetime is below
``min(limit, REFRESH_FRACTION * lifetime)``, where ``limit`` is the worker's horizon (proactive) or the on-
demand leeway (``get_connection``). The lifetime is known when the token is issued (``expires_in``; for a
plugin-supplied expiry, the time left when it is written), so the moment a token becomes due is stored as a
plaintext column, ``refresh_at = expires_at - min(REFRESH_CAP, REFRESH_FRACTION * lifetime)``: a token is due
once ``now >= refresh_at`` *and* ``now >= expires_at - limit``. ``REFRESH_CAP`` is the worker's default
horizon, so for the default worker "refresh_at has passed" is exactly "due", and its claim walks one index in
``refresh_at`` order (a horizon below the default narrows the window; one above it cannot widen it). A 90 s
token is then refreshed with 18 s left (about once per lifetime, never every worker cycle), a 30 s one with 6
s left (not on every ``get_connection`` although the default leeway is 60 s), a one-hour token 10 minutes
before its expiry as before.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from typing import Any, Final

from fluxnex.contract.errors import ConnectionExpired, NotConnected, RefreshError
from fluxnex.storage.store import ConnectionRow
from fluxnex.storage.store._rows import REFRESH_CAP

__all__ = [
    "HANDOVER_MARGIN",
    "REFRESH_CAP",
    "REFRESH_FRACTION",
    "backing_off",
    "connect_command",
    "due",
    "expired_error",
    "lapsing",
    "lapsing_error",
    "not_connected_error",
    "refresh_at",
    "refresh_token_expiry",
    "token_expiry",
    "token_lifetime",
    "update_command",
    "with_token_expiry",
]

UTC = dt.UTC

#: Seconds a token must still live to be handed over in place of a refresh that failed or is postponed (a
#: provider's backoff or Retry-After): a token a moment from its expiry would be refused where the caller uses it.
HANDOVER_MARGIN: Final = 3.0

#: Share of a token's lifetime left when it becomes due (with the horizon or leeway, whichever is smaller).
REFRESH_FRACTION: Final = 0.2


_MAX_EPOCH: Final = 253_402_300_799  # 9999-12-31: the last second a datetime can hold


def _number(value: object) -> float | None:
    """A finite number (bools, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _lifetime(value: object) -> float | None:
    """A lifetime a timestamp can be made of (finite, at most a century): NaN or 1e300 is ignored, not stored."""
    from fluxnex.n8n.validation import MAX_LIFETIME_SECONDS

    number = _number(value)
    return number if number is not None and abs(number) <= MAX_LIFETIME_SECONDS else None


def _timestamp(value: object) -> dt.datetime | None:
    number = _number(value)
    if number is None or not 0 <= number <= _MAX_EPOCH:
        return None
    return dt.datetime.fromtimestamp(number, UTC)


def with_token_expiry(data: dict[str, Any]) -> dict[str, Any]:
    """Add ``oauthTokenData.expires_at`` from ``expires_in`` when a caller stored a raw token response."""
    token = data.get("oauthTokenData")
    if isinstance(token, Mapping) and "expires_at" not in token:
        expires_in = _lifetime(token.get("expires_in"))
        if expires_in is not None:
            data["oauthTokenData"] = token = {**token, "expires_at": time.time() + expires_in}
    if isinstance(token, Mapping) and "refresh_token_expires_at" not in token:
        from fluxnex.lifecycle.oauth2 import REFRESH_LIFETIME_FIELDS

        for field in REFRESH_LIFETIME_FIELDS:
            value = _lifetime(token.get(field))
            if value is not None and value > 0:
                data["oauthTokenData"] = {**token, "refresh_token_expires_at": time.time() + value}
                break
    return data


def refresh_token_expiry(data: Mapping[str, Any]) -> dt.datetime | None:
    """When the refresh token itself expires (``oauthTokenData.refresh_token_expires_at``), else None."""
    token = data.get("oauthTokenData")
    return _timestamp(token.get("refresh_token_expires_at")) if isinstance(token, Mapping) else None


def token_expiry(data: Mapping[str, Any]) -> dt.datetime | None:
    """The plaintext expiry column's value for ``data``: ``oauthTokenData.expires_at``, else None."""
    token = data.get("oauthTokenData")
    return _timestamp(token.get("expires_at")) if isinstance(token, Mapping) else None


def token_lifetime(data: Mapping[str, Any], expires_at: dt.datetime | None) -> float | None:
    """The access token's whole lifetime in seconds: ``expires_in``, else what is left of it now."""
    if expires_at is None:
        return None
    token = data.get("oauthTokenData")
    lifetime = _lifetime(token.get("expires_in")) if isinstance(token, Mapping) else None
    if lifetime is None:
        lifetime = expires_at.timestamp() - time.time()
    return lifetime if lifetime > 0 else None


def refresh_at(
    data: Mapping[str, Any], expires_at: dt.datetime | None, fraction: float = REFRESH_FRACTION
) -> dt.datetime | None:
    """The ``refresh_at`` column: ``expires_at`` less ``fraction`` of the lifetime, at most ``REFRESH_CAP``.

    None only without an expiry; a token whose lifetime is unknown or already over is due by the cap alone.
    """
    if expires_at is None:
        return None
    lifetime = token_lifetime(data, expires_at)
    ahead = REFRESH_CAP if lifetime is None else min(REFRESH_CAP, fraction * lifetime)
    return expires_at - dt.timedelta(seconds=ahead)


def due(row: ConnectionRow, limit: float, now: float | None = None) -> bool:
    """Whether ``row``'s token has less than ``min(limit, fraction of its lifetime)`` left."""
    if row.expires_at is None:
        return False
    t = time.time() if now is None else now
    if row.expires_at.timestamp() - limit > t:
        return False
    return row.refresh_at is None or row.refresh_at.timestamp() <= t


def backing_off(row: ConnectionRow, now: float) -> bool:
    """True while a transient failure's backoff (or Retry-After) runs and the current token still works."""
    retry_at, expires_at = row.next_attempt_at, row.expires_at
    if retry_at is None or expires_at is None:
        return False
    return retry_at.timestamp() > now and expires_at.timestamp() > now


def lapsing(row: ConnectionRow, now: float) -> bool:
    """Whether ``row``'s token lives less than ``HANDOVER_MARGIN`` more (or has no known expiry: False)."""
    return row.expires_at is not None and row.expires_at.timestamp() - now < HANDOVER_MARGIN


def lapsing_error(row: ConnectionRow, now: float) -> RefreshError:
    """The transient ``RefreshError`` for a due token that lapses before the postponed refresh may run."""
    retry = row.next_attempt_at.isoformat(timespec="seconds") if row.next_attempt_at is not None else "soon"
    left = row.expires_at.timestamp() - now if row.expires_at is not None else 0.0
    why = f" ({row.last_error})" if row.last_error else ""
    return RefreshError(
        f"connection {row.name!r}: refreshing failed{why}; the next attempt is at {retry} and the current token"
        f" lapses in {max(left, 0.0):.1f} s",
        transient=True,
        retry_after=max((row.next_attempt_at.timestamp() - now) if row.next_attempt_at is not None else 0.0, 0.0),
    )


def expired_error(row: ConnectionRow, reason: object = None) -> ConnectionExpired:
    """The ``ConnectionExpired`` for ``row``: why (``reason``, else its last_error) and how to reconnect."""
    why = reason if reason is not None else row.last_error
    reason = f" ({why})" if why else ""
    if _pre_authenticated(row.type):  # the login itself was refused: new credentials, not a new grant
        return ConnectionExpired(f"connection {row.name!r} has expired{reason}: give it working credentials with "
                                 f"`{update_command(row)}` (a JSON object of the values to change on stdin)")
    return ConnectionExpired(f"connection {row.name!r} has expired{reason}: reconnect it with `{connect_command(row)}`")


def _pre_authenticated(type_name: str) -> bool:
    from fluxnex.n8n.preauth import implemented

    return type_name in implemented()


def connect_command(row: ConnectionRow) -> str:
    """The shell command that (re)connects ``row`` in place, quoted to work as printed."""
    import shlex

    return f"fluxnex connect --tenant {row.tenant_id} --type {row.type} --name {shlex.quote(row.name)}"


def update_command(row: ConnectionRow) -> str:
    """The shell command that replaces ``row``'s credentials from a JSON object on stdin, quoted as printed."""
    import shlex

    return f"fluxnex connections update --tenant {row.tenant_id} {shlex.quote(row.name)} --data -"


def not_connected_error(row: ConnectionRow) -> NotConnected:
    """The ``NotConnected`` for an OAuth2 connection stored without a token: how to connect it."""
    return NotConnected(
        f"connection {row.name!r} ({row.type}) is not connected to an account yet: connect it with "
        f"`{connect_command(row)}`"
    )
