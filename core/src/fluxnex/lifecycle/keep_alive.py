"""Keep-alive: refresh idle connections whose refresh token the provider revokes when unused for a while.

A credential type declares ``keep_alive`` (seconds, on the class; QuickBooks: its refresh token rolls over 100 days
of disuse). The worker claims ACTIVE connections of such a type last refreshed (or created) longer ago than that
and refreshes them under the usual lease, so a connection nobody reads keeps a live refresh token. The interval
is overridden per type by ``FLUXNEX_KEEP_ALIVE`` (``type=duration,...``; ``30d``, ``12h``, ``90m``, seconds;
``0`` turns it off) or ``fluxnex worker --keep-alive TYPE=DURATION``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fluxnex.contract.errors import ConfigurationError

if TYPE_CHECKING:
    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.storage.store import ConnectionRow, ConnectionStore

__all__ = ["ENV_KEEP_ALIVE", "KeepAlive", "parse_duration", "parse_overrides"]

ENV_KEEP_ALIVE = "FLUXNEX_KEEP_ALIVE"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    """Seconds of ``30d``, ``12h``, ``90m``, ``45s`` or a plain number of seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigurationError(f"keep-alive duration {text!r}: use a number with s, m, h or d (e.g. 30d)")
    return float(match[1]) * _UNITS[match[2]]


def parse_overrides(text: str) -> dict[str, float]:
    """``type=duration,...`` as {type: seconds} (0 turns keep-alive off for the type)."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(f"keep-alive {item!r}: expected TYPE=DURATION (e.g. quickBooksOAuth2Api=30d)")
        out[name.strip()] = parse_duration(value)
    return out


class KeepAlive:
    """The keep-alive intervals in force for a manager's types, and the claim of idle connections."""

    def __init__(
        self, store: ConnectionStore, registry: TypeRegistry, overrides: Mapping[str, float] | None = None
    ) -> None:
        self.store, self.registry = store, registry
        self.overrides = {**parse_overrides(os.environ.get(ENV_KEEP_ALIVE, "")), **(overrides or {})}

    def intervals(self) -> dict[str, float]:
        """{type name: seconds} for every known type with a keep-alive in force."""
        registry = self.registry
        out: dict[str, float] = {}
        for name in registry.names():
            value = self.overrides.get(name, self._declared(name))
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                out[name] = float(value)
        for name, value in self.overrides.items():  # a type only the database knows still counts
            if value > 0:
                out.setdefault(name, value)
        return out

    def _declared(self, name: str) -> object:
        """The type's own ``keep_alive``, else the nearest ancestor's (a type extending QuickBooks inherits it)."""
        registry = self.registry
        try:
            for type_name in (name, *registry.ancestors(name)):
                value = getattr(registry.get(type_name), "keep_alive", None)
                if value is not None:
                    return value
        except Exception:  # a type that fails to build is reported elsewhere
            return None
        return None

    def claim(self, owner: str, lease_seconds: float, limit: int, now: dt.datetime) -> list[ConnectionRow]:
        """Lease up to ``limit`` idle connections of every type with a keep-alive."""
        from fluxnex.storage.store._keep_alive import claim_idle

        rows: list[ConnectionRow] = []
        for type_name, seconds in sorted(self.intervals().items()):
            if len(rows) >= limit:
                break
            cutoff = now - dt.timedelta(seconds=seconds)
            rows += claim_idle(self.store, type_name, cutoff, owner=owner, lease_seconds=lease_seconds,
                               limit=limit - len(rows), now=now)  # fmt: skip
        return rows
