"""OAuth apps: a type's client settings (client id and secret, and any other of its properties) stored once by
the operator, per type and optionally per tenant, encrypted like connections.

A connection of an OAuth2 type inherits the app's settings wherever its client is needed (validation, the connect
flow, every refresh, revocation) but does not store them: rotating the app's client secret (``fluxnex oauth-apps
set``) takes effect for all its connections at their next refresh, without touching any of them. A connection's
own non-empty values win, so n8n-style connections that carry their own client id and secret keep working. A
tenant's own app wins over the app for every tenant. ``get_connection`` returns the connection's own data: the
app's secret stays with the operator's service, never with the workers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from fluxnex.contract.errors import FluxnexError

if TYPE_CHECKING:
    import datetime as dt

    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.contract.schema import CredentialType
    from fluxnex.storage.crypto import Keyring
    from fluxnex.storage.key_fingerprints import KeyGuard
    from fluxnex.storage.store import ConnectionStore
    from fluxnex.storage.store._service import ServiceStore


class Owner(Protocol):
    """What the apps need from their owner (the ``CredentialManager``): its store, keys and types."""

    @property
    def store(self) -> ConnectionStore: ...
    @property
    def keyring(self) -> Keyring: ...
    @property
    def key_guard(self) -> KeyGuard: ...
    @property
    def registry(self) -> TypeRegistry: ...

__all__ = ["OAuthAppInfo", "OAuthApps", "inherit", "strip_inherited"]

OAUTH2_BASE = "oAuth2Api"
_EVERY_TENANT = uuid.UUID(int=0)


@attrs.frozen
class OAuthAppInfo:
    """What can be shown of an app: its type, tenant, client id and which settings it holds (no values)."""

    type: str
    tenant_id: uuid.UUID | None
    client_id: str | None
    settings: tuple[str, ...]
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (the client id is not a secret; the other values are never shown)."""
        return {"type": self.type, "tenant_id": None if self.tenant_id is None else str(self.tenant_id),
                "client_id": self.client_id, "settings": list(self.settings),
                "updated_at": self.updated_at.isoformat()}


def _unset(ct: CredentialType | None, key: str, value: Any) -> bool:
    """No value of the connection's own: empty, or the type's default (which the app overrides)."""
    if value in (None, ""):
        return True
    prop = None if ct is None else ct.get_property(key)
    return prop is not None and value == prop.default_value


def inherit(app: Mapping[str, Any], data: Mapping[str, Any], ct: CredentialType | None = None) -> dict[str, Any]:
    """``data`` with the app's settings where ``data`` has no value of its own (empty, or ``ct``'s default)."""
    merged = dict(data)
    for key, value in app.items():
        if _unset(ct, key, merged.get(key)):
            merged[key] = value
    return merged


def strip_inherited(app: Mapping[str, Any], own: Mapping[str, Any], result: Mapping[str, Any],
                    ct: CredentialType | None = None) -> dict[str, Any]:
    """``result`` without the values it got from the app (those ``own`` did not set itself)."""
    return {k: v for k, v in result.items() if k not in app or not _unset(ct, k, own.get(k))}


def _tenant(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise FluxnexError(f"tenant_id must be a UUID, got {value!r}") from None


class OAuthApps:
    """The operator's OAuth apps in the manager's database."""

    def __init__(self, manager: Owner) -> None:
        self.manager = manager
        self._rows: ServiceStore | None = None

    @property
    def rows(self) -> ServiceStore:
        """The service tables on the manager's store."""
        if self._rows is None:
            from fluxnex.storage.store._service import ServiceStore

            self._rows = ServiceStore(self.manager.store)
        return self._rows

    def applies_to(self, type_name: str) -> bool:
        """Whether connections of ``type_name`` can inherit an app (OAuth2 types)."""
        try:
            return self.manager.registry.is_a(type_name, OAUTH2_BASE)
        except FluxnexError:
            return False

    def _binding(self, app_id: uuid.UUID, type_name: str, tenant: str) -> Any:
        from fluxnex.storage.crypto import RowBinding

        return RowBinding(uuid.UUID(tenant) if tenant else _EVERY_TENANT, app_id, type_name, "oauth-app")

    def _decrypt(self, row: Mapping[str, Any]) -> dict[str, Any]:
        plaintext = self.manager.keyring.decrypt(
            row["data"], self._binding(row["id"], row["type"], row["tenant"]),
            what=f"OAuth app of type {row['type']!r}" + (f" for tenant {row['tenant']}" if row["tenant"] else ""),
        )
        data: dict[str, Any] = json.loads(plaintext)
        return data

    def set(self, type_name: str, settings: Mapping[str, Any],
            tenant_id: uuid.UUID | str | None = None) -> OAuthAppInfo:
        """Store (or replace) the app of ``type_name``; its keys must be properties of the type, with a clientId."""
        ct = self.manager.registry.get(type_name)
        if not self.applies_to(ct.name):
            raise FluxnexError(f"credential type {ct.name!r} is not OAuth2: an OAuth app applies only to OAuth2 types")
        unknown = sorted(k for k in settings if ct.get_property(k) is None or k == "oauthTokenData")
        if unknown:
            raise FluxnexError(f"{unknown[0]!r} is not a setting of credential type {ct.name!r}")
        from fluxnex.n8n.authenticate import PINNED_OAUTH_FIELDS

        pinned = sorted(k for k in settings
                        if k in PINNED_OAUTH_FIELDS and getattr(ct.get_property(k), "type", "") == "hidden")
        if pinned:
            raise FluxnexError(f"{pinned[0]!r} is fixed by credential type {ct.name!r}: an OAuth app cannot change it")
        if not settings.get("clientId"):
            raise FluxnexError("an OAuth app needs a clientId")
        tenant = "" if tenant_id is None else str(_tenant(tenant_id))
        app_id = uuid.uuid4()
        self.manager.key_guard.check(self.manager.store, self.manager.keyring)
        plaintext = json.dumps(dict(settings), separators=(",", ":")).encode()
        envelope = self.manager.keyring.encrypt(plaintext, self._binding(app_id, ct.name, tenant))
        self.rows.put_oauth_app(app_id, ct.name, tenant, envelope)
        found = self.rows.oauth_app_row(ct.name, tenant)
        assert found is not None
        return self._info(found)

    def _info(self, row: Mapping[str, Any]) -> OAuthAppInfo:
        settings = self._decrypt(row)
        client_id = settings.get("clientId")
        return OAuthAppInfo(row["type"], uuid.UUID(row["tenant"]) if row["tenant"] else None,
                            None if client_id is None else str(client_id), tuple(sorted(settings)),
                            row["updated_at"])

    def reencrypt(self) -> int:
        """Re-encrypt every app not under the primary key (``fluxnex keys rotate``); how many were rewritten."""
        keyring = self.manager.keyring
        rewritten = 0
        for row in self.rows.all_oauth_apps():
            if row["data"].get("kid") == keyring.primary_kid:
                continue
            plaintext = json.dumps(self._decrypt(row), separators=(",", ":")).encode()
            self.manager.key_guard.check(self.manager.store, keyring)
            envelope = keyring.encrypt(plaintext, self._binding(row["id"], row["type"], row["tenant"]))
            rewritten += self.rows.replace_oauth_app_data(row["id"], row["data"], envelope)
        return rewritten

    def list(self) -> list[OAuthAppInfo]:
        """Every app, by type then tenant (every-tenant apps first)."""
        return [self._info(r) for r in self.rows.all_oauth_apps()]

    def remove(self, type_name: str, tenant_id: uuid.UUID | str | None = None) -> bool:
        """Delete the app of ``type_name`` (for ``tenant_id``, or for every tenant); False when none was set."""
        tenant = "" if tenant_id is None else str(_tenant(tenant_id))
        return self.rows.delete_oauth_app(type_name, tenant)

    def settings_for(self, type_name: str, tenant_id: uuid.UUID) -> dict[str, Any]:
        """The settings connections of ``type_name`` in ``tenant_id`` inherit: the tenant's app, else the
        every-tenant app, else none ({}; also for types that are not OAuth2)."""
        return self.settings_many([(type_name, tenant_id)])[type_name, tenant_id]

    def settings_many(self, pairs: Iterable[tuple[str, uuid.UUID]]) -> dict[tuple[str, uuid.UUID], dict[str, Any]]:
        """``settings_for`` of every (type, tenant) pair, read in one query ({} for a pair without an app):
        the refresh worker reads its claimed batch's at once rather than once per refresh."""
        wanted = set(pairs)
        types = sorted({t for t, _ in wanted if self.applies_to(t)})
        found: dict[tuple[str, str], Mapping[str, Any]] = {}
        if types:
            tenants = ["", *sorted({str(tenant) for _, tenant in wanted})]
            found = {(r["type"], r["tenant"]): r for r in self.rows.oauth_app_rows(types, tenants)}
        opened: dict[tuple[str, str], dict[str, Any]] = {}
        settings: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
        for type_name, tenant in wanted:
            row = found.get((type_name, str(tenant))) or found.get((type_name, ""))
            if row is not None and (row["type"], row["tenant"]) not in opened:
                opened[row["type"], row["tenant"]] = self._decrypt(row)
            settings[type_name, tenant] = {} if row is None else dict(opened[row["type"], row["tenant"]])
        return settings
