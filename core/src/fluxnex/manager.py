"""``CredentialManager``: the API worker runtimes import.

One manager per process is the normal use; it is thread-safe. Every read and write filters by tenant: a
connection of another tenant is simply not found. Data is validated against its type before anything is
written, encrypted with AES-256-GCM bound to (tenant, connection id, type), and OAuth2 tokens are refreshed
on demand (``get_connection``) through the exactly-once protocol of :mod:`fluxnex.refresh`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from . import config
from .errors import (
    ConcurrentUpdateError,
    ConnectionExpired,
    ConnectionNotFound,
    FluxnexError,
    NotConnected,
    NotRefreshable,
    ValidationError,
)
from .store import ConnectionRow, Status

if TYPE_CHECKING:
    import requests

    from .connection_test import TestResult
    from .crypto import Keyring
    from .plugins import TypeRegistry
    from .refresh import RefreshCoordinator
    from .schema import CredentialType
    from .store import ConnectionStore, SQLiteReader


def validate(ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`fluxnex.validation.validate`, imported on first use (commands that only read stay fast)."""
    from .validation import validate as _validate

    return _validate(ct, data)

__all__ = ["DEFAULT_REFRESH_LEEWAY", "ConnectionInfo", "CredentialManager"]

_log = logging.getLogger("fluxnex.manager")
UTC = dt.UTC

#: Seconds before expiry at which ``get_connection`` refreshes a token (a type may set ``refresh_leeway``).
DEFAULT_REFRESH_LEEWAY: Final = 60.0
_CAS_ATTEMPTS: Final = 8
#: A connection whose refresh token expires within this many days is flagged for reconnection.
RECONNECT_WARNING_DAYS: Final = 14


@attrs.frozen
class ConnectionInfo:
    """What can be shown about a connection without its secrets."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    name: str
    status: Status
    expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    last_refreshed_at: dt.datetime | None = None
    refresh_failures: int = 0
    last_error: str | None = None
    refresh_expires_at: dt.datetime | None = None

    @property
    def reconnect_soon(self) -> bool:
        """Whether the refresh token itself expires within ``RECONNECT_WARNING_DAYS``: a person must act soon."""
        if self.refresh_expires_at is None:
            return False
        return self.refresh_expires_at - dt.datetime.now(UTC) <= dt.timedelta(days=RECONNECT_WARNING_DAYS)

    @classmethod
    def from_row(cls, row: ConnectionRow) -> ConnectionInfo:
        """Build the info of a stored row (never reads its data)."""
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            type=row.type,
            name=row.name,
            status=Status(row.status),
            expires_at=row.expires_at,
            created_at=_required(row.created_at),
            updated_at=_required(row.updated_at),
            last_refreshed_at=row.last_refreshed_at,
            refresh_failures=row.refresh_failures,
            last_error=row.last_error,
            refresh_expires_at=row.refresh_expires_at,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO timestamps, string UUIDs)."""
        out: dict[str, Any] = {}
        for key, value in attrs.asdict(self, recurse=False).items():
            if isinstance(value, uuid.UUID | dt.datetime):
                value = value.isoformat() if isinstance(value, dt.datetime) else str(value)
            out[key] = value.value if isinstance(value, Status) else value
        out["reconnect_soon"] = self.reconnect_soon
        return out


def parse_tenant(value: uuid.UUID | str) -> uuid.UUID:
    """Accept a UUID or its string form; anything else is a one-line error."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise FluxnexError(f"tenant_id must be a UUID, got {value!r}") from None


def with_token_expiry(data: dict[str, Any]) -> dict[str, Any]:
    """Add ``oauthTokenData.expires_at`` from ``expires_in`` when a caller stored a raw token response."""
    token = data.get("oauthTokenData")
    if isinstance(token, Mapping) and "expires_at" not in token:
        expires_in = token.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            data["oauthTokenData"] = token = {**token, "expires_at": time.time() + float(expires_in)}
    if isinstance(token, Mapping) and "refresh_token_expires_at" not in token:
        from .oauth2 import REFRESH_LIFETIME_FIELDS

        for field in REFRESH_LIFETIME_FIELDS:
            value = token.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                data["oauthTokenData"] = {**token, "refresh_token_expires_at": time.time() + float(value)}
                break
    return data


def refresh_token_expiry(data: Mapping[str, Any]) -> dt.datetime | None:
    """When the refresh token itself expires (``oauthTokenData.refresh_token_expires_at``), else None."""
    token = data.get("oauthTokenData")
    value = token.get("refresh_token_expires_at") if isinstance(token, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return dt.datetime.fromtimestamp(float(value), UTC)


def token_expiry(data: Mapping[str, Any]) -> dt.datetime | None:
    """The plaintext expiry column's value for ``data``: ``oauthTokenData.expires_at``, else None."""
    token = data.get("oauthTokenData")
    if not isinstance(token, Mapping):
        return None
    value = token.get("expires_at")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return dt.datetime.fromtimestamp(float(value), UTC)


class CredentialManager:
    """Create, read, update and delete connections; ``get_connection`` always returns fresh credentials."""

    def __init__(
        self,
        database_url: str | None = None,
        encryption_keys: Keyring | str | None = None,
        *,
        registry: TypeRegistry | None = None,
        refresh_leeway: float = DEFAULT_REFRESH_LEEWAY,
        lease_seconds: float = 30.0,
        http_timeout: float = 10.0,
    ) -> None:
        self.database_url = config.database_url(database_url)
        self.keyring = config.load_keyring(self.database_url, encryption_keys)
        from .store._access import StoreAccess

        self._access = StoreAccess(self.database_url)  # the embedded default is read without SQLAlchemy first
        self._registry = registry
        self.refresh_leeway = refresh_leeway
        self.http_timeout = http_timeout
        self._local = threading.local()
        self._lease_seconds = lease_seconds
        self._refresher: RefreshCoordinator | None = None
        self._refresher_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"CredentialManager({config.redact_url(self.database_url)!r}, keys={list(self.keyring.kids)!r})"
        )

    # -- plumbing shared with the refresher, the CLI and the worker --------------------------------------

    @property
    def store(self) -> ConnectionStore:
        """The connection store (opened on first use when the embedded database was found ready to read)."""
        return self._access.store

    @property
    def reads(self) -> ConnectionStore | SQLiteReader:
        """Where read-only commands read: the store once open, else the SQLite reader (same rows, no SQLAlchemy)."""
        return self._access.reads

    @property
    def refresher(self) -> RefreshCoordinator:
        """The refresh coordinator (created on first use: commands that only read never import it)."""
        if self._refresher is None:
            with self._refresher_lock:
                if self._refresher is None:
                    from .refresh import RefreshCoordinator

                    self._refresher = RefreshCoordinator(self, lease_seconds=self._lease_seconds)
        return self._refresher

    @property
    def registry(self) -> TypeRegistry:
        """The type registry (discovered plugins unless one was given)."""
        if self._registry is None:
            from .plugins import get_registry

            self._registry = get_registry()
        return self._registry

    def credential_type(self, name: str) -> CredentialType:
        """The resolved credential type ``name``."""
        return self.registry.get(name)

    @property
    def http(self) -> requests.Session:
        """A per-thread ``requests.Session`` for provider calls; no call waits longer than ``http_timeout``."""
        session = getattr(self._local, "http", None)
        if session is None:
            session = _bounded_session(self.http_timeout)
            session.headers["User-Agent"] = "fluxnex"
            self._local.http = session
        return session

    def encrypt(
        self, tenant_id: uuid.UUID, connection_id: uuid.UUID, type_name: str, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The envelope of ``data`` bound to its row."""
        from .crypto import associated_data

        plaintext = json.dumps(data, separators=(",", ":")).encode()
        return self.keyring.encrypt(plaintext, associated_data(tenant_id, connection_id, type_name))

    def decrypt(self, row: ConnectionRow) -> dict[str, Any]:
        """The plaintext data of a stored row; ``DecryptionError`` names the connection and the key."""
        from .crypto import associated_data

        plaintext = self.keyring.decrypt(
            row.data,
            associated_data(row.tenant_id, row.id, row.type),
            what=f"connection {row.name!r} (id {row.id})",
        )
        data: dict[str, Any] = json.loads(plaintext)
        return data

    def leeway_for(self, type_name: str) -> float:
        """Seconds before expiry at which tokens of ``type_name`` are refreshed."""
        try:
            value = getattr(self.credential_type(type_name), "refresh_leeway", None)
        except FluxnexError:
            value = None
        return float(value) if isinstance(value, int | float) else self.refresh_leeway

    def _row(self, tenant_id: uuid.UUID | str, name: str) -> ConnectionRow:
        tenant = parse_tenant(tenant_id)
        row = self.store.get(tenant, name)
        if row is None:
            raise ConnectionNotFound(tenant, name)
        return row

    def expires_at_for(self, ct: CredentialType, data: Mapping[str, Any]) -> dt.datetime | None:
        """Expiry of the access token in ``data``: from the token response, else from a plugin hook."""
        expiry = token_expiry(data)
        if expiry is not None or not isinstance(data.get("oauthTokenData"), Mapping):
            return expiry
        value = self.registry.hook.token_expires_at(credential_type=ct, data=dict(data), http=self.http)
        return None if value is None else dt.datetime.fromtimestamp(float(value), UTC)

    # -- the API -------------------------------------------------------------------------------------------

    def create_connection(
        self, tenant_id: uuid.UUID | str, type: str, name: str, data: Mapping[str, Any]
    ) -> ConnectionInfo:
        """Validate ``data`` against ``type`` and store it encrypted as a new connection."""
        tenant = parse_tenant(tenant_id)
        _check_name(name)
        ct = self.credential_type(type)
        clean = with_token_expiry(validate(ct, data))
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
            data=self.encrypt(tenant, connection_id, ct.name, clean),
            status=self._initial_status(ct, clean),
            expires_at=self.expires_at_for(ct, clean),
            refresh_expires_at=refresh_token_expiry(clean),
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

    def _initial_status(self, ct: CredentialType, data: Mapping[str, Any]) -> Status:
        """NOT_CONNECTED for an OAuth2 type stored without an access token, else ACTIVE."""
        token = data.get("oauthTokenData")
        has_token = isinstance(token, Mapping) and bool(token.get("access_token"))
        if has_token or not self.registry.is_a(ct.name, "oAuth2Api"):
            return Status.ACTIVE
        return Status.NOT_CONNECTED

    def get_connection(self, tenant_id: uuid.UUID | str, name: str) -> dict[str, Any]:
        """The connection's plain data, its access token refreshed first when it expires within the leeway."""
        return self.read_connection(tenant_id, name)[1]

    def read_connection(self, tenant_id: uuid.UUID | str, name: str) -> tuple[ConnectionRow, dict[str, Any]]:
        """``get_connection`` plus the row it read (callers that may force a refresh later pass it back)."""
        row = self._usable_row(tenant_id, name)
        expires_at = row.expires_at
        if expires_at is not None:
            leeway = self.leeway_for(row.type)
            now = dt.datetime.now(UTC).timestamp()
            if expires_at.timestamp() - leeway <= now and not _backing_off(row, now):
                try:
                    return row, self.refresher.ensure_fresh(row)
                except NotRefreshable:
                    pass  # a static credential with a known expiry: hand it over as it is
        return row, self.decrypt(row)

    def _usable_row(self, tenant_id: uuid.UUID | str, name: str) -> ConnectionRow:
        row = self._row(tenant_id, name)
        if row.status == Status.EXPIRED:
            raise expired_error(row)
        if row.status == Status.NOT_CONNECTED:
            raise not_connected_error(row)
        return row

    def refresh_connection(self, tenant_id: uuid.UUID | str, name: str) -> dict[str, Any]:
        """Refresh now, whatever the expiry (once across every caller that saw the same version).

        Raises ``NotRefreshable`` (nothing changed) for a type no plugin refreshes, ``ConnectionExpired`` when a
        person must reconnect, ``RefreshError`` when the provider failed and the current token has lapsed.
        """
        row = self._usable_row(tenant_id, name)
        return self.refresher.ensure_fresh(row, force=True)

    def get_connection_info(self, tenant_id: uuid.UUID | str, name: str) -> ConnectionInfo:
        """The connection's info (no secrets)."""
        tenant = parse_tenant(tenant_id)
        row = self.reads.get(tenant, name)
        if row is None:
            raise ConnectionNotFound(tenant, name)
        return ConnectionInfo.from_row(row)

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
                clean = with_token_expiry(validate(ct, merged))
                changes.update(
                    data=self.encrypt(row.tenant_id, row.id, row.type, clean),
                    expires_at=self.expires_at_for(ct, clean),
                    refresh_expires_at=refresh_token_expiry(clean),
                )
                if "oauthTokenData" in data:
                    changes.update(status=self._initial_status(ct, clean).value, refresh_failures=0,
                                   last_error=None, next_attempt_at=None)
            if new_name is not None:
                changes["name"] = new_name
            if not changes:
                return ConnectionInfo.from_row(row)
            updated = self.store.update_cas(row.id, row.version, **changes)
            if updated is not None:
                return ConnectionInfo.from_row(updated)
        raise ConcurrentUpdateError(
            f"connection {name!r} kept changing under {_CAS_ATTEMPTS} update attempts; try again"
        )

    def delete_connection(self, tenant_id: uuid.UUID | str, name: str) -> None:
        """Delete the connection; ``ConnectionNotFound`` if the tenant has none of that name."""
        tenant = parse_tenant(tenant_id)
        if not self.store.delete(tenant, name):
            raise ConnectionNotFound(tenant, name)

    def revoke_connection(self, tenant_id: uuid.UUID | str, name: str) -> bool:
        """Revoke the connection's token at the provider (``revoke_token`` hook); False when no plugin can."""
        row = self._row(tenant_id, name)
        ct = self.credential_type(row.type)
        data = self.decrypt(row)
        revoked = self.registry.hook.revoke_token(credential_type=ct, data=data, http=self.http)
        if revoked:
            _log.info("revoked connection=%s type=%s at the provider", row.id, row.type)
        return bool(revoked)

    def test_connection(self, tenant_id: uuid.UUID | str, name: str) -> TestResult:
        """Test the connection's credentials as n8n does (see :mod:`fluxnex.connection_test`)."""
        from .connection_test import test_connection

        return test_connection(self, tenant_id, name)

    def session(self, tenant_id: uuid.UUID | str, name: str) -> requests.Session:
        """A ``requests.Session`` that authenticates every request with the connection's fresh credentials."""
        from .session import ConnectionSession

        self._row(tenant_id, name)  # fail now, not at the first request, when there is no such connection
        return ConnectionSession(self, parse_tenant(tenant_id), name)

    def close(self) -> None:
        """Release database connections."""
        self._access.close()


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError(
            "(connection)", [("name", "must be a non-empty string of at most 200 characters")]
        )


def connect_command(row: ConnectionRow) -> str:
    """The shell command that (re)connects ``row`` in place, quoted to work as printed."""
    import shlex

    return f"fluxnex connect --tenant {row.tenant_id} --type {row.type} --name {shlex.quote(row.name)}"


def expired_error(row: ConnectionRow, reason: object = None) -> ConnectionExpired:
    """The ``ConnectionExpired`` for ``row``: why (``reason``, else its last_error) and how to reconnect."""
    why = reason if reason is not None else row.last_error
    reason = f" ({why})" if why else ""
    return ConnectionExpired(f"connection {row.name!r} has expired{reason}: reconnect it with `{connect_command(row)}`")


def not_connected_error(row: ConnectionRow) -> NotConnected:
    """The ``NotConnected`` for an OAuth2 connection stored without a token: how to connect it."""
    return NotConnected(
        f"connection {row.name!r} ({row.type}) is not connected to an account yet: connect it with "
        f"`{connect_command(row)}`"
    )


def _required(value: dt.datetime | None) -> dt.datetime:
    assert value is not None, "stored rows always carry their timestamps"
    return value


def _backing_off(row: ConnectionRow, now: float) -> bool:
    """True while a transient failure's backoff (or Retry-After) runs and the current token still works."""
    retry_at, expires_at = row.next_attempt_at, row.expires_at
    if retry_at is None or expires_at is None:
        return False
    return retry_at.timestamp() > now and expires_at.timestamp() > now


def _bounded_session(timeout: float) -> requests.Session:
    """A ``requests.Session`` whose every call times out after at most ``timeout`` seconds."""
    import requests

    def bound(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(timeout if v is None else min(float(v), timeout) for v in value)
        return timeout if value is None else min(float(value), timeout)

    class BoundedSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            kwargs["timeout"] = bound(kwargs.get("timeout"))
            return super().request(*args, **kwargs)

    return BoundedSession()
