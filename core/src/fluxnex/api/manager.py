"""``CredentialManager``: the API worker runtimes import.

One manager per process is the normal use; it is thread-safe. Every read and write filters by tenant: a
connection of another tenant is simply not found. Data is validated against its type before anything is
written, encrypted with AES-256-GCM bound to (tenant, connection id, type), and OAuth2 tokens are refreshed
on demand (``get_connection``) through the exactly-once protocol of :mod:`fluxnex.lifecycle.refresh`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from fluxnex.api._parts import DEFAULT_HTTP_TIMEOUT, DEFAULT_REFRESH_LEEWAY, ManagerParts, lookup_name_ok
from fluxnex.api.connection_info import RECONNECT_WARNING_DAYS, ConnectionInfo, parse_tenant
from fluxnex.contract.errors import (
    ConcurrentUpdateError,
    ConnectionNotFound,
    FluxnexError,
    NotConnected,
    NotRefreshable,
)
from fluxnex.lifecycle.tokens import (
    backing_off,
    connect_command,
    due,
    expired_error,
    lapsing,
    lapsing_error,
    not_connected_error,
    refresh_token_expiry,
    token_expiry,
    with_token_expiry,
)
from fluxnex.storage.store import ConnectionRow, Status

if TYPE_CHECKING:
    import requests

    from fluxnex.api.connection_test import TestResult
    from fluxnex.contract.schema import CredentialType


def validate(ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`fluxnex.n8n.validation.validate`, imported on first use (commands that only read stay fast)."""
    from fluxnex.n8n.validation import validate as _validate

    return _validate(ct, data)


__all__ = [
    "DEFAULT_HTTP_TIMEOUT",
    "DEFAULT_REFRESH_LEEWAY",
    "RECONNECT_WARNING_DAYS",
    "ConnectionInfo",
    "CredentialManager",
    "connect_command",
    "expired_error",
    "not_connected_error",
    "parse_tenant",
    "refresh_token_expiry",
    "token_expiry",
    "with_token_expiry",
]

_log = logging.getLogger("fluxnex.manager")
UTC = dt.UTC

_CAS_ATTEMPTS: Final = 8


class CredentialManager(ManagerParts):
    """Create, read, update and delete connections; ``get_connection`` always returns fresh credentials."""

    # the constructor and the plumbing (store, registry, cipher, refresher) are in fluxnex.api._parts

    # -- the API -------------------------------------------------------------------------------------------

    def create_connection(
        self, tenant_id: uuid.UUID | str, type: str, name: str, data: Mapping[str, Any]
    ) -> ConnectionInfo:
        """Validate ``data`` against ``type`` and store it encrypted as a new connection."""
        tenant = parse_tenant(tenant_id)
        _check_name(name)
        ct = self.credential_type(type)
        clean = self.validated(ct, tenant, data)
        deprecated = getattr(ct, "deprecated", None)
        if deprecated:
            warnings.warn(
                f"credential type {ct.name!r} is deprecated: {deprecated}", DeprecationWarning, stacklevel=2
            )
            _log.warning("creating connection %r of deprecated type %s: %s", name, ct.name, deprecated)
        connection_id = uuid.uuid4()
        now = dt.datetime.now(UTC)
        row = ConnectionRow(
            id=connection_id,
            tenant_id=tenant,
            type=ct.name,
            name=name,
            data=self.encrypt(tenant, connection_id, ct.name, clean, name=name),
            status=self._initial_status(ct, clean),
            **self.token_columns(ct, clean),
            version=1,
            lease_owner=None,
            lease_until=None,
            refresh_failures=0,
            last_error=None,
            next_attempt_at=None,
            last_refreshed_at=None,
            created_at=now,
            updated_at=now,
        )
        return ConnectionInfo.from_row(self.store.insert(row))

    def get_connection(self, tenant_id: uuid.UUID | str, name: str) -> dict[str, Any]:
        """The connection's plain data, its access token refreshed first when it expires within the leeway."""
        return self.read_connection(tenant_id, name)[1]

    def read_connection(self, tenant_id: uuid.UUID | str, name: str) -> tuple[ConnectionRow, dict[str, Any]]:
        """``get_connection`` plus the row it read (callers that may force a refresh later pass it back)."""
        return self.read_row(self._usable_row(tenant_id, name))

    def read_row(self, row: ConnectionRow) -> tuple[ConnectionRow, dict[str, Any]]:
        """``read_connection`` of a row the caller already read (the service looks connections up by id)."""
        data = self.ready_data(row)
        if data is not None:
            return row, data
        now = time.time()
        if backing_off(row, now):  # the provider asked to wait: the current token, if it lasts
            if lapsing(row, now):
                raise lapsing_error(row, now)
            return row, self.decrypt(row)
        try:
            return row, self.refresher.ensure_fresh(row)
        except NotRefreshable:
            pass  # a static credential with a known expiry: hand it over as it is
        return row, self.decrypt(row)

    def ready_data(self, row: ConnectionRow) -> dict[str, Any] | None:
        """What ``read_row`` returns when that takes no refresh (its token is not due): decrypted, with no
        provider call, lease or wait; None when the token is due (``read_row`` then refreshes it)."""
        _check_usable(row)
        if row.expires_at is not None and due(row, self.leeway_for(row.type), time.time()):
            return None
        return self.decrypt(row)

    def _usable_row(self, tenant_id: uuid.UUID | str, name: str) -> ConnectionRow:
        row = self._row(tenant_id, name)
        _check_usable(row)
        return row

    def validated(self, ct: CredentialType, tenant_id: uuid.UUID, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` validated (with the OAuth app's settings it inherits) as it is stored: without those settings."""
        from fluxnex.storage.oauth_apps import inherit, strip_inherited

        app = self.oauth_apps.settings_for(ct.name, tenant_id)
        clean = with_token_expiry(validate(ct, inherit(app, data, ct) if app else data))
        return strip_inherited(app, data, clean, ct) if app else clean

    def _initial_status(self, ct: CredentialType, data: Mapping[str, Any]) -> Status:
        """NOT_CONNECTED for an OAuth2 (OAuth1) type stored without an access token (``oauth_token``), else ACTIVE."""
        token = data.get("oauthTokenData")
        oauth1 = self.registry.is_a(ct.name, "oAuth1Api")
        has_token = isinstance(token, Mapping) and bool(token.get("oauth_token" if oauth1 else "access_token"))
        if has_token or not (oauth1 or self.registry.is_a(ct.name, "oAuth2Api")):
            return Status.ACTIVE
        return Status.NOT_CONNECTED

    def refresh_connection(self, tenant_id: uuid.UUID | str, name: str) -> dict[str, Any]:
        """Refresh now, whatever the expiry (once across every caller that saw the same version).

        Raises ``NotRefreshable`` (nothing changed) for a type no plugin refreshes, ``ConnectionExpired`` when a
        person must reconnect, ``RefreshError`` when the provider failed and the current token lapses within
        ``HANDOVER_MARGIN``.
        """
        row = self._usable_row(tenant_id, name)
        return self.refresher.ensure_fresh(row, force=True)

    def get_connection_info(self, tenant_id: uuid.UUID | str, name: str) -> ConnectionInfo:
        """The connection's info (no secrets)."""
        return ConnectionInfo.from_row(self._row(tenant_id, name, read_only=True))

    def list_connections(
        self, tenant_id: uuid.UUID | str, type: str | None = None, status: Status | str | None = None
    ) -> list[ConnectionInfo]:
        """The tenant's connections, optionally of one type or status, ordered by name."""
        tenant = parse_tenant(tenant_id)
        if status is not None:
            try:
                status = Status(str(status).upper())
            except ValueError:
                known = ", ".join(s.value for s in Status)
                raise FluxnexError(f"unknown status {status!r}: use one of {known}") from None
        return [ConnectionInfo.from_row(r) for r in self.reads.list(tenant, type=type, status=status)]

    def update_connection(
        self,
        tenant_id: uuid.UUID | str,
        name: str,
        data: Mapping[str, Any] | None = None,
        new_name: str | None = None,
    ) -> ConnectionInfo:
        """Replace the data (the stored token is kept unless ``data`` has one) and/or rename; version-checked.

        ``data`` with a new ``oauthTokenData`` reconnects in place: the id and creation time stay, the status
        becomes ACTIVE and the failure count, last error and retry time are cleared.
        """
        if new_name is not None:
            _check_name(new_name)
        for _ in range(_CAS_ATTEMPTS):
            row = self._row(tenant_id, name)
            changes: dict[str, Any] = {}
            if data is not None:
                ct = self.credential_type(row.type)
                merged = dict(data)
                if "oauthTokenData" not in merged:
                    old_token = self.decrypt(row).get("oauthTokenData")
                    if old_token is not None:
                        merged["oauthTokenData"] = old_token
                clean = self.validated(ct, row.tenant_id, merged)
                relogin = _pre_authenticated(ct)
                if relogin:  # n8n's pre-authentication: new credentials log in again (fluxnex.n8n.preauth)
                    from fluxnex.n8n.preauth import updated_data

                    clean = updated_data(ct, self.decrypt(row), clean)
                changes.update(self.token_columns(ct, clean))
                changes["data"] = self.encrypt(row.tenant_id, row.id, row.type, clean, name=new_name or row.name)
                if "oauthTokenData" in data or relogin:
                    changes.update(status=self._initial_status(ct, clean).value, refresh_failures=0,
                                   last_error=None, next_attempt_at=None)
            if new_name is not None and new_name != row.name:
                changes["name"] = new_name
                if "data" not in changes:  # the name is bound into the ciphertext: a rename re-encrypts
                    changes["data"] = self.encrypt(row.tenant_id, row.id, row.type, self.decrypt(row), name=new_name)
            if not changes:
                return ConnectionInfo.from_row(row)
            event = "connection.reconnected" if data is not None and "oauthTokenData" in data else "connection.updated"
            updated = self.store.update_cas(row.id, row.version, event=event, **changes)
            if updated is not None:
                return ConnectionInfo.from_row(updated)
        raise ConcurrentUpdateError(
            f"connection {name!r} kept changing under {_CAS_ATTEMPTS} update attempts; try again"
        )

    def delete_connection(self, tenant_id: uuid.UUID | str, name: str) -> None:
        """Delete the connection; ``ConnectionNotFound`` if the tenant has none of that name."""
        tenant = parse_tenant(tenant_id)
        if not lookup_name_ok(name) or not self.store.delete(tenant, name):
            raise ConnectionNotFound(tenant, name)

    def revoke_connection(self, tenant_id: uuid.UUID | str, name: str) -> bool:
        """Revoke the connection's token at the provider (``revoke_token`` hook); False when no plugin can."""
        row = self._row(tenant_id, name)
        from fluxnex.storage.oauth_apps import inherit

        ct = self.credential_type(row.type)
        data = inherit(self.oauth_apps.settings_for(row.type, row.tenant_id), self.decrypt(row), ct)
        revoked = self.registry.hook.revoke_token(credential_type=ct, data=data, http=self.http)
        if revoked:
            _log.info("revoked connection=%s type=%s at the provider", row.id, row.type)
        return bool(revoked)

    def test_connection(self, tenant_id: uuid.UUID | str, name: str) -> TestResult:
        """Test the connection's credentials as n8n does (see :mod:`fluxnex.api.connection_test`)."""
        from fluxnex.api.connection_test import check_connection, not_connected

        try:
            row, data = self.read_connection(tenant_id, name)
        except NotConnected as exc:
            return not_connected(exc)
        return check_connection(
            self.credential_type(row.type), data, registry=self.registry, session=self.session(tenant_id, name),
            http_timeout=self.http_timeout,
        )

    def session(self, tenant_id: uuid.UUID | str, name: str, *, base_url: str | None = None) -> requests.Session:
        """A ``requests.Session`` that authenticates every request with the connection's fresh credentials.

        Credentials never follow a redirect to another origin; relative URLs resolve against ``base_url``.
        Without one, a type whose n8n node builds its API root from the credentials (an n8n "node code" type,
        :mod:`fluxnex.n8n.code_auth.nodes`) resolves them against that root, read once here.
        """
        from fluxnex.api.session import BoundConnection, ConnectionSession

        tenant = parse_tenant(tenant_id)
        row = self._row(tenant, name)  # fail now, not at the first request, when there is no such connection
        if base_url is None:
            base_url = self._node_base_url(tenant, name, row.type)
        bound = BoundConnection(
            tenant, name, self.registry,
            read=lambda: self.read_connection(tenant, name),
            refresh=lambda row: self.refresher.ensure_fresh(row, force=True),
        )
        return ConnectionSession(bound, base_url=base_url)

    def _node_base_url(self, tenant: uuid.UUID, name: str, type_name: str) -> str | None:
        from fluxnex.n8n.code_auth import nodes

        entry = nodes.get(type_name)
        if entry is None or entry.base_url is None:
            return None
        return entry.base_url(self.registry.get(type_name).effective_data(self.get_connection(tenant, name)))


def _pre_authenticated(ct: CredentialType) -> bool:
    from fluxnex.n8n.preauth import handles

    return handles(ct)


def _check_usable(row: ConnectionRow) -> None:
    if row.status == Status.EXPIRED:
        raise expired_error(row)
    if row.status == Status.NOT_CONNECTED:
        raise not_connected_error(row)


def _check_name(name: str) -> None:
    from fluxnex.n8n.validation import check_connection_name

    check_connection_name(name)  # length, NUL, lone surrogates, control characters: one line, nothing written
