"""The parts a ``CredentialManager`` assembles from the layers below, each created on first use.

The manager owns one of each and hands every object what it needs: the ``RowCipher`` (keyring, key guard,
bound names), the store (opened lazily: the embedded SQLite database at head is read without SQLAlchemy until
something writes), the registry, the ``TokenPolicy``, the provider session and the ``RefreshCoordinator``.
Nothing below calls back into the manager. The API methods are in ``fluxnex.api.manager``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from fluxnex.api.connection_info import parse_tenant
from fluxnex.contract.errors import ConnectionNotFound, FluxnexError
from fluxnex.lifecycle.provider_http import ProviderHTTP
from fluxnex.lifecycle.tokens import REFRESH_FRACTION
from fluxnex.storage import config
from fluxnex.storage.row_cipher import RowCipher

if TYPE_CHECKING:
    import requests

    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.contract.schema import CredentialType
    from fluxnex.lifecycle.recovery import PendingRecovery
    from fluxnex.lifecycle.refresh import RefreshCoordinator
    from fluxnex.lifecycle.token_policy import TokenPolicy
    from fluxnex.storage.crypto import Keyring
    from fluxnex.storage.key_fingerprints import KeyGuard
    from fluxnex.storage.oauth_apps import OAuthApps
    from fluxnex.storage.store import ConnectionRow, ConnectionStore, SQLiteReader

__all__ = ["DEFAULT_HTTP_TIMEOUT", "DEFAULT_REFRESH_LEEWAY", "ManagerParts"]

_log = logging.getLogger("fluxnex.manager")

#: Overall deadline of one provider request in seconds (``lifecycle._http``, which imports requests on first use).
DEFAULT_HTTP_TIMEOUT: Final = 120.0
#: Seconds before expiry at which ``get_connection`` refreshes a token (a type may set ``refresh_leeway``).
DEFAULT_REFRESH_LEEWAY: Final = 60.0


class ManagerParts:
    """Construction and the plumbing shared with the refresher, the CLI and the worker."""

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
        ``fluxnex.lifecycle.tokens``), stored with each token it writes. Recovery files of this database left
        by an earlier process on this host are replayed first.
        """
        if not 0 < refresh_fraction < 1:
            raise FluxnexError(f"refresh_fraction must be in (0, 1), got {refresh_fraction!r}")
        from fluxnex.storage.store._access import StoreAccess

        self.database_url = config.database_url(database_url)
        self.keyring = config.load_keyring(self.database_url, encryption_keys)
        self._registry = registry
        self.refresh_leeway = refresh_leeway
        self.refresh_fraction = refresh_fraction
        self.http_timeout = http_timeout
        self._provider = ProviderHTTP(http_timeout)
        self._lock = threading.RLock()  # the store, refresher and key guard open one another on first use
        self._lease_seconds = lease_seconds
        self._refresher: RefreshCoordinator | None = None
        self._tokens: TokenPolicy | None = None
        self._recovered = False
        self._oauth_apps: OAuthApps | None = None
        size, timeout = config.pool_settings(pool_size, pool_timeout)
        self._cipher = RowCipher(self.keyring, lambda: self._access.store)
        # the embedded SQLite database at head is read without SQLAlchemy until something needs the store
        self._access = StoreAccess(self.database_url, lambda: self._open_store(size, timeout))
        if self._access.is_open:
            self.store  # noqa: B018 - replays this database's recovery files now

    def _open_store(self, pool_size: int, pool_timeout: float) -> ConnectionStore:
        from fluxnex.storage.store import ConnectionStore

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
        """The check that this keyring may write to this database (``fluxnex.storage.key_fingerprints``)."""
        return self._cipher.key_guard

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
                    from fluxnex.lifecycle.recovery import RecoveryFiles, recovery_dir
                    from fluxnex.lifecycle.refresh import RefreshCoordinator

                    self._refresher = RefreshCoordinator(
                        store=self.store,
                        registry=self.registry,
                        cipher=self._cipher,
                        tokens=self._token_policy,
                        http=self._provider,
                        recovery=RecoveryFiles(recovery_dir(self.database_url), self.keyring),
                        lease_seconds=self._lease_seconds,
                        client_settings=self.oauth_apps,
                    )
        return self._refresher

    @property
    def oauth_apps(self) -> OAuthApps:
        """The operator's OAuth apps, which OAuth2 connections inherit (``fluxnex.storage.oauth_apps``)."""
        if self._oauth_apps is None:
            from fluxnex.storage.oauth_apps import OAuthApps

            with self._lock:
                if self._oauth_apps is None:
                    self._oauth_apps = OAuthApps(self)
        return self._oauth_apps

    def __repr__(self) -> str:
        return (
            f"CredentialManager({config.redact_url(self.database_url)!r}, keys={list(self.keyring.kids)!r})"
        )

    @property
    def registry(self) -> TypeRegistry:
        """The type registry (discovered plugins unless one was given)."""
        if self._registry is None:
            from fluxnex.contract.plugins import get_registry

            self._registry = get_registry()
        return self._registry

    def credential_type(self, name: str) -> CredentialType:
        """The resolved credential type ``name``."""
        return self.registry.get(name)

    @property
    def http(self) -> requests.Session:
        """The ``requests.Session`` for provider calls, shared by all threads (``fluxnex.lifecycle._http``).

        Bounded sockets, no cookies; no request takes longer than ``http_timeout`` in all.
        """
        return self._provider.session

    @property
    def _token_policy(self) -> TokenPolicy:
        """The token timing rules of this manager (leeway, expiry, the plaintext token columns)."""
        if self._tokens is None:
            from fluxnex.lifecycle.token_policy import TokenPolicy

            with self._lock:
                if self._tokens is None:
                    self._tokens = TokenPolicy(
                        self.registry, self._provider, leeway=self.refresh_leeway, fraction=self.refresh_fraction
                    )
        return self._tokens

    @property
    def max_database_connections(self) -> int:
        """The most database connections this manager (its process) holds at once: the pool size."""
        return self.store.max_connections

    def pending_recoveries(self) -> list[PendingRecovery]:
        """Refresh results of this database still waiting in local recovery files (``fluxnex.lifecycle.recovery``)."""
        return self.refresher.writer.files.pending()

    def token_columns(self, ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
        """The plaintext token columns for ``data``: ``expires_at``, ``refresh_expires_at``, ``refresh_at``."""
        return self._token_policy.token_columns(ct, data)

    def encrypt(
        self, tenant_id: uuid.UUID, connection_id: uuid.UUID, type_name: str, data: Mapping[str, Any],
        name: str | None = None,
    ) -> dict[str, Any]:
        """The envelope of ``data`` bound to its row and name (looked up by id when ``name`` is not given).

        Refuses (``KeyMismatch``) when the keyring does not match the keys the database has recorded.
        """
        return self._cipher.encrypt(tenant_id, connection_id, type_name, data, name=name)

    def decrypt(self, row: ConnectionRow) -> dict[str, Any]:
        """The plaintext data of a stored row; ``DecryptionError`` names the connection and the key."""
        return self._cipher.decrypt(row)

    def leeway_for(self, type_name: str) -> float:
        """Seconds before expiry at which tokens of ``type_name`` are refreshed."""
        return self._token_policy.leeway_for(type_name)

    def expires_at_for(self, ct: CredentialType, data: Mapping[str, Any]) -> dt.datetime | None:
        """Expiry of the access token in ``data``: from the token response, else from a plugin hook."""
        return self._token_policy.expires_at_for(ct, data)

    def _row(self, tenant_id: uuid.UUID | str, name: str, *, read_only: bool = False) -> ConnectionRow:
        """The stored row; ``read_only`` reads through ``reads`` (the fast reader until something writes)."""
        tenant = parse_tenant(tenant_id)
        row = (self.reads if read_only else self.store).get(tenant, name) if lookup_name_ok(name) else None
        if row is None:
            raise ConnectionNotFound(tenant, name)
        return row

    def close(self) -> None:
        """Flush unwritten refresh results (to recovery files if the database still refuses), then disconnect."""
        try:
            if self._refresher is not None:
                self._refresher.close()
        finally:
            self._provider.close()
            self._access.close()


def lookup_name_ok(name: object) -> bool:
    """Whether ``name`` can be looked up at all (a NUL or lone surrogate cannot be stored, so it is not found)."""
    from fluxnex.n8n.validation import text_problem

    return isinstance(name, str) and text_problem(name) is None
