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

from . import config
from .bound_names import BoundNames
from .connection_info import RECONNECT_WARNING_DAYS, ConnectionInfo, parse_tenant
from .errors import (
    ConcurrentUpdateError,
    ConnectionNotFound,
    FluxnexError,
    NotRefreshable,
)
from .expression_marks import from_stored, to_stored
from .store import ConnectionRow, Status
from .tokens import (
    REFRESH_FRACTION,
    backing_off,
    connect_command,
    due,
    expired_error,
    not_connected_error,
    refresh_at,
    refresh_token_expiry,
    token_expiry,
    with_token_expiry,
)

if TYPE_CHECKING:
    import requests

    from .connection_test import TestResult
    from .crypto import Keyring
    from .key_fingerprints import KeyGuard
    from .plugins import TypeRegistry
    from .recovery import PendingRecovery
    from .refresh import RefreshCoordinator
    from .schema import CredentialType
    from .store import ConnectionStore, SQLiteReader


def validate(ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`fluxnex.validation.validate`, imported on first use (commands that only read stay fast)."""
    from .validation import validate as _validate

    return _validate(ct, data)

__all__ = [
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

#: Overall deadline of one provider request in seconds (``fluxnex._http``, which imports requests on first use).
DEFAULT_HTTP_TIMEOUT: Final = 120.0
#: Seconds before expiry at which ``get_connection`` refreshes a token (a type may set ``refresh_leeway``).
DEFAULT_REFRESH_LEEWAY: Final = 60.0
_CAS_ATTEMPTS: Final = 8
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
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
        pool_size: int | None = None,
        pool_timeout: float | None = None,
        refresh_fraction: float = REFRESH_FRACTION,
    ) -> None:
        """Open the store (one bounded pool: ``pool_size`` connections, ``FLUXNEX_DB_POOL_SIZE``, default 4).

        ``http_timeout`` is the overall deadline of one provider request (token requests included: the answer
        is read to the end within it while the lease is kept renewed). ``refresh_fraction``: a token is due
        once less than this share of its lifetime is left (and less than the leeway or the worker's horizon;
        ``fluxnex.tokens``), stored with each token it writes. Recovery files of this database left by an
        earlier process on this host are replayed first.
        """
        if not 0 < refresh_fraction < 1:
            raise FluxnexError(f"refresh_fraction must be in (0, 1), got {refresh_fraction!r}")
        from .store._access import StoreAccess

        self.database_url = config.database_url(database_url)
        self.keyring = config.load_keyring(self.database_url, encryption_keys)
        self._key_guard: KeyGuard | None = None
        self._bound_names = BoundNames()
        self._registry = registry
        self.refresh_leeway = refresh_leeway
        self.refresh_fraction = refresh_fraction
        self.http_timeout = http_timeout
        self._http: requests.Session | None = None
        self._lock = threading.RLock()  # the store, refresher and key guard open one another on first use
        self._lease_seconds = lease_seconds
        self._refresher: RefreshCoordinator | None = None
        self._recovered = False
        size, timeout = config.pool_settings(pool_size, pool_timeout)
        # the embedded SQLite database at head is read without SQLAlchemy until something needs the store
        self._access = StoreAccess(self.database_url, lambda: self._open_store(size, timeout))
        if self._access.is_open:
            self.store  # noqa: B018 - replays this database's recovery files now

    def _open_store(self, pool_size: int, pool_timeout: float) -> ConnectionStore:
        from .store import ConnectionStore

        store = ConnectionStore(self.database_url, pool_size=pool_size, pool_timeout=pool_timeout)
        self.key_guard.prime(store, self.keyring)  # so writes later need no query (see KeyGuard)
        return store

    def _replay_recoveries(self) -> None:
        try:
            self.refresher.replay_recoveries()
        except Exception as exc:  # never fatal: the files stay for the next attempt
            _log.error("replaying recovery files failed: %s: %s", type(exc).__name__, exc)

    @property
    def store(self) -> ConnectionStore:
        """The connection store (opened on first use when the embedded database was ready to read fast).

        The first use replays recovery files an earlier process on this host left for this database.
        """
        store = self._access.store
        if not self._recovered:
            with self._lock:
                replay, self._recovered = not self._recovered, True
            if replay:
                self._replay_recoveries()
        return store

    @property
    def key_guard(self) -> KeyGuard:
        """The check that this keyring may write to this database (``fluxnex.key_fingerprints``)."""
        if self._key_guard is None:
            from .key_fingerprints import KeyGuard

            with self._lock:
                if self._key_guard is None:
                    self._key_guard = KeyGuard()
        return self._key_guard

    @property
    def reads(self) -> ConnectionStore | SQLiteReader:
        """Where read-only commands read: the store once open, else the SQLite reader (same rows, no SQLAlchemy)."""
        return self._access.reads

    @property
    def refresher(self) -> RefreshCoordinator:
        """The refresh coordinator (created on first use: commands that only read never import it)."""
        if self._refresher is None:
            with self._lock:
                if self._refresher is None:
                    from .refresh import RefreshCoordinator

                    self._refresher = RefreshCoordinator(self, lease_seconds=self._lease_seconds)
        return self._refresher

    def __repr__(self) -> str:
        return (
            f"CredentialManager({config.redact_url(self.database_url)!r}, keys={list(self.keyring.kids)!r})"
        )

    # -- plumbing shared with the refresher, the CLI and the worker --------------------------------------

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
        """The ``requests.Session`` for provider calls, shared by all threads (``fluxnex._http``).

        Bounded sockets, no cookies; no request takes longer than ``http_timeout`` in all.
        """
        session = self._http
        if session is None:
            with self._lock:
                if self._http is None:
                    from ._http import provider_session

                    self._http = provider_session(self.http_timeout)
                session = self._http
        return session

    @property
    def max_database_connections(self) -> int:
        """The most database connections this manager (its process) holds at once: the pool size."""
        return self.store.max_connections

    def pending_recoveries(self) -> list[PendingRecovery]:
        """Refresh results of this database still waiting in local recovery files (``fluxnex.recovery``)."""
        return self.refresher.writer.files.pending()

    def token_columns(self, ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
        """The plaintext token columns for ``data``: ``expires_at``, ``refresh_expires_at``, ``refresh_at``."""
        expires_at = self.expires_at_for(ct, data)
        return {
            "expires_at": expires_at,
            "refresh_expires_at": refresh_token_expiry(data),
            "refresh_at": refresh_at(data, expires_at, self.refresh_fraction),
        }

    def encrypt(
        self, tenant_id: uuid.UUID, connection_id: uuid.UUID, type_name: str, data: Mapping[str, Any],
        name: str | None = None,
    ) -> dict[str, Any]:
        """The envelope of ``data`` bound to its row and name (looked up by id when ``name`` is not given).

        Refuses (``KeyMismatch``) when the keyring does not match the keys the database has recorded.
        """
        from .crypto import RowBinding

        if name is None:
            name = self._bound_names.name_for(self.store, tenant_id, connection_id)
        self.key_guard.check(self.store, self.keyring)
        plaintext = json.dumps(to_stored(data), separators=(",", ":")).encode()
        return self.keyring.encrypt(plaintext, RowBinding(tenant_id, connection_id, type_name, name))

    def decrypt(self, row: ConnectionRow) -> dict[str, Any]:
        """The plaintext data of a stored row; ``DecryptionError`` names the connection and the key."""
        from .crypto import RowBinding

        plaintext = self.keyring.decrypt(
            row.data,
            RowBinding(row.tenant_id, row.id, row.type, row.name),
            what=f"connection {row.name!r} (id {row.id})",
        )
        self._bound_names.seen(row)  # what a write that follows binds to (see fluxnex.bound_names)
        data: dict[str, Any] = from_stored(json.loads(plaintext))
        return data

    def leeway_for(self, type_name: str) -> float:
        """Seconds before expiry at which tokens of ``type_name`` are refreshed."""
        try:
            value = getattr(self.credential_type(type_name), "refresh_leeway", None)
        except FluxnexError:
            value = None
        return float(value) if isinstance(value, int | float) else self.refresh_leeway

    def _row(self, tenant_id: uuid.UUID | str, name: str, *, read_only: bool = False) -> ConnectionRow:
        """The stored row; ``read_only`` reads through ``reads`` (the fast reader until something writes)."""
        tenant = parse_tenant(tenant_id)
        row = (self.reads if read_only else self.store).get(tenant, name) if _lookup_name_ok(name) else None
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
        row = self._usable_row(tenant_id, name)
        if row.expires_at is not None:
            now = time.time()
            if due(row, self.leeway_for(row.type), now) and not backing_off(row, now):
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

    def _initial_status(self, ct: CredentialType, data: Mapping[str, Any]) -> Status:
        """NOT_CONNECTED for an OAuth2 type stored without an access token, else ACTIVE."""
        token = data.get("oauthTokenData")
        has_token = isinstance(token, Mapping) and bool(token.get("access_token"))
        if has_token or not self.registry.is_a(ct.name, "oAuth2Api"):
            return Status.ACTIVE
        return Status.NOT_CONNECTED

    def refresh_connection(self, tenant_id: uuid.UUID | str, name: str) -> dict[str, Any]:
        """Refresh now, whatever the expiry (once across every caller that saw the same version).

        Raises ``NotRefreshable`` (nothing changed) for a type no plugin refreshes, ``ConnectionExpired`` when a
        person must reconnect, ``RefreshError`` when the provider failed and the current token has lapsed.
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
                clean = with_token_expiry(validate(ct, merged))
                changes.update(self.token_columns(ct, clean))
                changes["data"] = self.encrypt(row.tenant_id, row.id, row.type, clean, name=new_name or row.name)
                if "oauthTokenData" in data:
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
        if not _lookup_name_ok(name) or not self.store.delete(tenant, name):
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

    def session(self, tenant_id: uuid.UUID | str, name: str, *, base_url: str | None = None) -> requests.Session:
        """A ``requests.Session`` that authenticates every request with the connection's fresh credentials.

        Credentials never follow a redirect to another origin; relative URLs resolve against ``base_url``.
        """
        from .session import ConnectionSession

        self._row(tenant_id, name)  # fail now, not at the first request, when there is no such connection
        return ConnectionSession(self, parse_tenant(tenant_id), name, base_url=base_url)

    def close(self) -> None:
        """Flush unwritten refresh results (to recovery files if the database still refuses), then disconnect."""
        try:
            if self._refresher is not None:
                self._refresher.close()
        finally:
            if self._http is not None:
                self._http.close()
            self._access.close()


def _lookup_name_ok(name: object) -> bool:
    """Whether ``name`` can be looked up at all (a NUL or lone surrogate cannot be stored, so it is not found)."""
    from .validation import text_problem

    return isinstance(name, str) and text_problem(name) is None


def _check_name(name: str) -> None:
    from .validation import check_connection_name

    check_connection_name(name)  # length, NUL, lone surrogates, control characters: one line, nothing written
