"""The connect service's tables (migration 0006) and ``ServiceStore``: API keys, connect sessions, OAuth states
and OAuth app envelopes.

Nothing secret is stored in plaintext: API keys, connect-session tokens, OAuth ``state`` values and browser
cookies are SHA-256 hashes of 32 random bytes (a hash of a high-entropy secret needs no salt or slow KDF: it
cannot be guessed, only stolen, and the hash alone is useless); OAuth app settings and a flow's PKCE verifier are
encryption envelopes (the caller encrypts). Single use is an UPDATE ... WHERE used_at IS NULL that one caller
wins, so it holds across processes and hosts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from fluxnex.storage.store._models import UTCDateTime
from fluxnex.storage.store._prompt import KEY_COLUMNS, PromptRead
from fluxnex.storage.store._repository import ConnectionStore

__all__ = [
    "SCOPES",
    "ApiKey",
    "ConnectSession",
    "OAuthState",
    "ServiceStore",
    "hash_secret",
    "new_secret",
]

UTC = dt.UTC

#: What an API key may do; ``admin`` implies every other scope.
SCOPES = ("connections:read", "connections:write", "credentials:read", "connect:create", "admin")
KEY_PREFIX = "fnx_"

service_metadata = sa.MetaData()
api_key_table = sa.Table(
    "api_key",
    service_metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant_id", sa.Uuid(), nullable=True),
    sa.Column("scopes", sa.String(500), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)
connect_session_table = sa.Table(
    "connect_session",
    service_metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("connection_id", sa.Uuid(), nullable=True),
    sa.Column("return_url", sa.Text(), nullable=False),
    sa.Column("api_key_id", sa.Uuid(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)
oauth_state_table = sa.Table(
    "oauth_state",
    service_metadata,
    sa.Column("state_hash", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.Uuid(), nullable=False),
    sa.Column("browser_hash", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)
oauth_app_table = sa.Table(
    "oauth_app",
    service_metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(36), nullable=False, server_default=""),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
K, S, ST, A = api_key_table, connect_session_table, oauth_state_table, oauth_app_table
_AUTH_SQL = f"SELECT {', '.join(KEY_COLUMNS)} FROM api_key WHERE key_hash = ?"  # noqa: S608 - fixed names


def new_secret(prefix: str = "") -> str:
    """32 random bytes, URL-safe base64, after ``prefix``."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    """The SHA-256 hex digest stored for a high-entropy secret."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


@attrs.frozen
class ApiKey:
    """An API key's record (never the key)."""

    id: uuid.UUID
    name: str
    prefix: str
    tenant_id: uuid.UUID | None
    scopes: tuple[str, ...]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def allows(self, scope: str) -> bool:
        """Whether the key holds ``scope`` (``admin`` holds them all)."""
        return scope in self.scopes or "admin" in self.scopes

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (ISO timestamps, string UUIDs)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "prefix": self.prefix,
            "tenant_id": None if self.tenant_id is None else str(self.tenant_id),
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "revoked": self.revoked_at is not None,
        }


@attrs.frozen
class ConnectSession:
    """A connect session (the token itself is only ever in the link)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    name: str | None
    connection_id: uuid.UUID | None
    return_url: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None

    @property
    def usable(self) -> bool:
        """Not used and not expired."""
        return self.used_at is None and self.expires_at > _now()


@attrs.frozen
class OAuthState:
    """One authorization request in flight (its data is an envelope: verifier and form values)."""

    state_hash: str
    session_id: uuid.UUID
    browser_hash: str
    data: dict[str, Any]
    expires_at: dt.datetime
    used_at: dt.datetime | None


def _api_key(m: sa.RowMapping) -> ApiKey:
    return ApiKey(m["id"], m["name"], m["prefix"], m["tenant_id"], tuple(str(m["scopes"]).split()),
                  m["created_at"], m["last_used_at"], m["revoked_at"])


def _session(m: sa.RowMapping) -> ConnectSession:
    return ConnectSession(m["id"], m["tenant_id"], m["type"], m["name"], m["connection_id"], m["return_url"],
                          m["created_at"], m["expires_at"], m["used_at"])


class ServiceStore:
    """The service's rows, on the connection store's engine (its one bounded pool)."""

    def __init__(self, store: ConnectionStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- API keys ------------------------------------------------------------------------------------------

    def create_api_key(self, name: str, scopes: Sequence[str], tenant_id: uuid.UUID | None) -> tuple[ApiKey, str]:
        """Store a new key's hash; (its record, the key, which is shown once and never again)."""
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            from fluxnex.contract.errors import FluxnexError

            what = f"unknown scope {unknown[0]!r}" if unknown else "no scope given"
            raise FluxnexError(f"{what}: use one or more of {', '.join(SCOPES)}")
        key = new_secret(KEY_PREFIX)
        values: dict[str, Any] = {"id": uuid.uuid4(), "name": name, "prefix": key[:10], "key_hash": hash_secret(key),
                  "tenant_id": tenant_id, "scopes": " ".join(dict.fromkeys(scopes)), "created_at": _now(),
                  "last_used_at": None, "revoked_at": None}
        with self.engine.begin() as conn:
            conn.execute(K.insert().values(**values))
        record = ApiKey(values["id"], name, key[:10], tenant_id, tuple(values["scopes"].split()),
                        values["created_at"], None, None)
        return record, key

    def authenticate(self, key: str, prompt: PromptRead | None = None) -> ApiKey | None:
        """The live key whose hash matches ``key`` (hashes compared in constant time), else None.

        Every API request asks this: one prepared SELECT on a pooled DBAPI connection (the store's hot path), or
        the row ``prompt`` already read (``Busy`` when it read another key's).
        """
        from fluxnex.storage.store._raw import _pg_dt, _sqlite_dt

        digest = hash_secret(key)
        raw = self.store._raw
        if prompt is not None:
            found = prompt.api_key_row(digest)
        else:
            sql = _AUTH_SQL.replace("?", "?" if raw.sqlite else "%s")
            with raw.errors.translated(), raw.borrow() as conn:
                found = conn.execute(sql, (digest,)).fetchone()
        if found is None or not hmac.compare_digest(str(found[3]), digest):
            return None
        when = _sqlite_dt if raw.sqlite else _pg_dt
        revoked = when(found[8])
        if revoked is not None:
            return None

        def uid(value: Any) -> uuid.UUID | None:
            return None if value is None else value if isinstance(value, uuid.UUID) else uuid.UUID(value)

        key_id, tenant = uid(found[0]), uid(found[4])
        created = when(found[6])
        assert key_id is not None and created is not None
        return ApiKey(key_id, found[1], found[2], tenant, tuple(str(found[5]).split()), created, when(found[7]), None)

    def touch_api_key(self, key_id: uuid.UUID) -> None:
        """Record the key's last use."""
        with self.engine.begin() as conn:
            conn.execute(K.update().where(K.c.id == key_id).values(last_used_at=_now()))

    def list_api_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(K).order_by(K.c.created_at, K.c.id)).mappings().all()
        return [_api_key(r) for r in rows]

    def revoke_api_key(self, key_id: uuid.UUID) -> bool:
        """Revoke a key; False when no live key has that id."""
        with self.engine.begin() as conn:
            result = conn.execute(K.update().where(K.c.id == key_id, K.c.revoked_at.is_(None))
                                  .values(revoked_at=_now()))
        return bool(result.rowcount)

    # -- connect sessions ----------------------------------------------------------------------------------

    def create_session(self, *, tenant_id: uuid.UUID, type: str, name: str | None,
                       connection_id: uuid.UUID | None, return_url: str, ttl_seconds: float,
                       api_key_id: uuid.UUID | None) -> tuple[ConnectSession, str]:
        """A new connect session; (its record, its token)."""
        token = new_secret()
        now = _now()
        values: dict[str, Any] = {
                  "id": uuid.uuid4(), "token_hash": hash_secret(token), "tenant_id": tenant_id, "type": type,
                  "name": name, "connection_id": connection_id, "return_url": return_url,
                  "api_key_id": api_key_id, "created_at": now,
                  "expires_at": now + dt.timedelta(seconds=ttl_seconds), "used_at": None}
        with self.engine.begin() as conn:
            conn.execute(S.insert().values(**values))
        record = ConnectSession(values["id"], tenant_id, type, name, connection_id, return_url, now,
                                values["expires_at"], None)
        return record, token

    def session_by_token(self, token: str) -> ConnectSession | None:
        """The session of ``token`` (used or expired ones too), else None."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(S).where(S.c.token_hash == hash_secret(token))).mappings().first()
        return None if found is None else _session(found)

    def session_by_id(self, session_id: uuid.UUID) -> ConnectSession | None:
        """The session with this id, else None."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(S).where(S.c.id == session_id)).mappings().first()
        return None if found is None else _session(found)

    def claim_session(self, session_id: uuid.UUID) -> bool:
        """Mark the session used; True for the one caller that did (single use across processes)."""
        with self.engine.begin() as conn:
            result = conn.execute(S.update().where(S.c.id == session_id, S.c.used_at.is_(None),
                                                   S.c.expires_at > _now()).values(used_at=_now()))
        return bool(result.rowcount)

    def release_session(self, session_id: uuid.UUID) -> None:
        """Undo a claim whose completion failed before anything was stored (the user may try again)."""
        with self.engine.begin() as conn:
            conn.execute(S.update().where(S.c.id == session_id).values(used_at=None))

    # -- OAuth states --------------------------------------------------------------------------------------

    def create_state(self, *, state: str, session_id: uuid.UUID, browser: str, envelope: dict[str, Any],
                     ttl_seconds: float = 600.0) -> None:
        """Store a flow's state (hashed), bound to the browser cookie's hash."""
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(ST.insert().values(state_hash=hash_secret(state), session_id=session_id,
                                           browser_hash=hash_secret(browser), data=envelope, created_at=now,
                                           expires_at=now + dt.timedelta(seconds=ttl_seconds), used_at=None))

    def take_state(self, state: str) -> OAuthState | None:
        """Claim the state (single use): its record for the one caller that claimed it while live, else None."""
        digest = hash_secret(state)
        with self.engine.begin() as conn:
            claimed = conn.execute(ST.update().where(ST.c.state_hash == digest, ST.c.used_at.is_(None),
                                                    ST.c.expires_at > _now()).values(used_at=_now()))
            if not claimed.rowcount:
                return None
            m = conn.execute(sa.select(ST).where(ST.c.state_hash == digest)).mappings().one()
        return OAuthState(m["state_hash"], m["session_id"], m["browser_hash"], dict(m["data"]), m["expires_at"],
                          m["used_at"])

    def purge_expired(self, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
        """Delete sessions and states that expired more than ``older_than`` ago; how many rows went."""
        cutoff = _now() - older_than
        with self.engine.begin() as conn:
            gone = conn.execute(ST.delete().where(ST.c.expires_at < cutoff)).rowcount
            gone += conn.execute(S.delete().where(S.c.expires_at < cutoff)).rowcount
        return int(gone)

    # -- OAuth apps (envelopes: fluxnex.oauth_apps encrypts and decrypts) -----------------------------------

    def oauth_app_row(self, type_name: str, tenant: str) -> dict[str, Any] | None:
        """The app row of (type, tenant) with ``tenant`` '' for every tenant, else None."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(A).where(A.c.type == type_name, A.c.tenant == tenant)).mappings().first()
        return None if found is None else dict(found)

    def oauth_app_rows(self, type_names: Sequence[str], tenants: Sequence[str]) -> list[dict[str, Any]]:
        """The app rows of any of ``type_names`` for any of ``tenants`` (one query per refresh, or per claimed
        batch of the worker)."""
        where = A.c.type.in_(type_names), A.c.tenant.in_(tenants)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(A).where(*where)).mappings().all()
        return [dict(r) for r in rows]

    def all_oauth_apps(self) -> list[dict[str, Any]]:
        """Every app row, by type and tenant."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(A).order_by(A.c.type, A.c.tenant)).mappings().all()]

    def put_oauth_app(self, app_id: uuid.UUID, type_name: str, tenant: str, envelope: dict[str, Any]) -> None:
        """Insert or replace the app row of (type, tenant) under ``app_id`` (the id the envelope is bound to)."""
        now = _now()
        with self.engine.begin() as conn:
            updated = conn.execute(A.update().where(A.c.type == type_name, A.c.tenant == tenant)
                                   .values(id=app_id, data=envelope, updated_at=now))
            if not updated.rowcount:
                conn.execute(A.insert().values(id=app_id, type=type_name, tenant=tenant, data=envelope,
                                               created_at=now, updated_at=now))

    def replace_oauth_app_data(self, app_id: uuid.UUID, old: dict[str, Any], envelope: dict[str, Any]) -> int:
        """Swap the app's envelope for ``envelope`` unless it changed meanwhile (compared with ``old``); 1 or 0."""
        with self.engine.begin() as conn:
            current = conn.execute(sa.select(A.c.data).where(A.c.id == app_id)).scalar()
            if current != old:
                return 0
            conn.execute(A.update().where(A.c.id == app_id).values(data=envelope, updated_at=_now()))
        return 1

    def delete_oauth_app(self, type_name: str, tenant: str) -> bool:
        """Delete the app row of (type, tenant); False when there was none."""
        with self.engine.begin() as conn:
            return bool(conn.execute(A.delete().where(A.c.type == type_name, A.c.tenant == tenant)).rowcount)
