"""Webhook endpoints and their per-(event, endpoint) deliveries: exclusive claims with leases, outcomes.

A delivery is claimed like a refresh: a lease (owner + until) taken in one transaction, ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite, so workers on any number of hosts never send the same delivery at
the same time; a worker killed mid-delivery leaves a lease that lapses, and the next claim sends it again with
the same ``webhook-id``. Outcomes are written only by the lease's owner.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from fluxnex.storage.store._outbox import Event, OutboxStore, _event, delivery_table, endpoint_table, event_table

if TYPE_CHECKING:
    from fluxnex.storage.crypto import Keyring

__all__ = ["Delivery", "Endpoint", "WebhookStore", "decrypt_secret", "encrypt_secret"]

D, P, E = delivery_table, endpoint_table, event_table
_SECRET_AAD = b"fluxnex webhook endpoint v1\x00"


def encrypt_secret(keyring: Keyring, endpoint_id: uuid.UUID, secret: str) -> dict[str, Any]:
    """The envelope of an endpoint's signing secret under the primary key, bound to the endpoint's id."""
    return keyring.encrypt(secret.encode(), _SECRET_AAD + endpoint_id.bytes)


def decrypt_secret(keyring: Keyring, endpoint: Endpoint) -> str:
    """An endpoint's signing secret; ``DecryptionError`` names the endpoint and the key."""
    raw = keyring.decrypt(endpoint.secret, _SECRET_AAD + endpoint.id.bytes, what=f"webhook endpoint {endpoint.id}")
    return raw.decode()


@attrs.frozen
class Endpoint:
    """A webhook endpoint: where to send, which events (None: all but ``connection.refreshed``), whose tenant."""

    id: uuid.UUID
    url: str
    tenant_id: uuid.UUID | None
    events: tuple[str, ...] | None
    secret: dict[str, Any] = attrs.field(repr=False)  # the encryption envelope of the signing secret
    created_at: dt.datetime | None = None

    def wants(self, event: Event) -> bool:
        """Whether this endpoint subscribes to ``event``."""
        if self.tenant_id is not None and self.tenant_id != event.tenant_id:
            return False
        if self.events is None:
            return event.type != "connection.refreshed"
        return event.type in self.events


@attrs.frozen
class Delivery:
    """A claimed delivery: the event to send, to which endpoint, the how-manieth attempt this is."""

    id: int
    event: Event
    endpoint: Endpoint
    attempts: int
    created_at: dt.datetime


def _endpoint(m: sa.RowMapping) -> Endpoint:
    events = None if m["events"] is None else tuple(json.loads(m["events"]))
    secret = m["secret"] if isinstance(m["secret"], dict) else json.loads(m["secret"])
    return Endpoint(m["id"], m["url"], m["tenant_id"], events, secret, m["created_at"])


class WebhookStore(OutboxStore):
    """The outbox plus endpoints and deliveries."""

    # -- endpoints -------------------------------------------------------------------------------------

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Store a new endpoint."""
        events = None if endpoint.events is None else json.dumps(list(endpoint.events))
        wants_refreshed = endpoint.events is not None and "connection.refreshed" in endpoint.events
        with self.write() as conn:
            conn.execute(P.insert().values(
                id=endpoint.id, url=endpoint.url, tenant_id=endpoint.tenant_id, events=events,
                wants_refreshed=wants_refreshed, secret=endpoint.secret, created_at=endpoint.created_at,
            ))  # fmt: skip

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, oldest first."""
        with self.engine.connect() as conn:
            return [_endpoint(m) for m in conn.execute(sa.select(P).order_by(P.c.created_at, P.c.id)).mappings()]

    def reencrypt_secrets(self, keyring: Keyring) -> int:
        """Re-encrypt every endpoint secret not under the primary key (``fluxnex keys rotate``); how many."""
        rotated = 0
        for endpoint in self.endpoints():
            if endpoint.secret.get("kid") == keyring.primary_kid:
                continue
            envelope = encrypt_secret(keyring, endpoint.id, decrypt_secret(keyring, endpoint))
            with self.write() as conn:
                rotated += conn.execute(
                    P.update().where(P.c.id == endpoint.id).values(secret=envelope)
                ).rowcount  # fmt: skip
        return rotated

    def remove_endpoint(self, endpoint_id: uuid.UUID) -> bool:
        """Delete an endpoint and its deliveries; True if it existed."""
        with self.write() as conn:
            conn.execute(D.delete().where(D.c.endpoint_id == endpoint_id))
            return bool(conn.execute(P.delete().where(P.c.id == endpoint_id)).rowcount)

    # -- deliveries ------------------------------------------------------------------------------------

    def claim_deliveries(self, owner: str, lease_seconds: float, limit: int, now: dt.datetime,
                         skip_endpoints: Sequence[uuid.UUID] = ()) -> list[Delivery]:  # fmt: skip
        """Lease up to ``limit`` pending deliveries due by ``now`` (oldest due first), not to ``skip_endpoints``."""
        free = sa.or_(D.c.lease_until.is_(None), D.c.lease_until < now)
        pick = sa.select(D.c.id).where(D.c.status == "PENDING", D.c.next_attempt_at <= now, free)
        if skip_endpoints:
            pick = pick.where(D.c.endpoint_id.not_in(list(skip_endpoints)))
        pick = pick.order_by(D.c.next_attempt_at, D.c.id).limit(limit).with_for_update(skip_locked=True)
        until = now + dt.timedelta(seconds=lease_seconds)
        if not self._any(sa.select(D.c.id).where(D.c.status == "PENDING", D.c.next_attempt_at <= now, free).limit(1)):
            return []  # nothing due: no write transaction (SQLite's write lock stays with the refreshes)
        with self.write() as conn:
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return []
            conn.execute(D.update().where(D.c.id.in_(ids)).values(lease_owner=owner, lease_until=until))
            rows = conn.execute(
                sa.select(D.c.id.label("d_id"), D.c.attempts.label("d_attempts"), D.c.created_at.label("d_created"),
                          *E.c, *(c.label(f"p_{c.name}") for c in P.c))
                .select_from(D.join(E, E.c.seq == D.c.event_seq).join(P, P.c.id == D.c.endpoint_id))
                .where(D.c.id.in_(ids)).order_by(D.c.next_attempt_at, D.c.id)
            ).mappings().all()  # fmt: skip
        out = []
        for m in rows:
            endpoint = _endpoint({c.name: m[f"p_{c.name}"] for c in P.c})  # type: ignore[arg-type]
            out.append(Delivery(int(m["d_id"]), _event(m), endpoint, int(m["d_attempts"]), m["d_created"]))
        return out

    def delivered(self, delivery_id: int, owner: str, status_code: int, now: dt.datetime) -> bool:
        """Record a 2xx answer (only by the lease's owner); False when the lease was lost meanwhile."""
        with self.write() as conn:
            return bool(conn.execute(
                D.update().where(D.c.id == delivery_id, D.c.lease_owner == owner)
                .values(status="DELIVERED", attempts=D.c.attempts + 1, last_status=status_code, last_error=None,
                        delivered_at=now, lease_owner=None, lease_until=None)
            ).rowcount)  # fmt: skip

    def attempt_failed(self, delivery_id: int, owner: str, *, next_attempt_at: dt.datetime | None,
                       status_code: int | None, error: str) -> bool:  # fmt: skip
        """Record a failed attempt: retried at ``next_attempt_at``, or FAILED for good when it is None."""
        values: dict[str, Any] = {
            "attempts": D.c.attempts + 1, "last_status": status_code, "last_error": error[:500],
            "lease_owner": None, "lease_until": None,
        }  # fmt: skip
        if next_attempt_at is None:
            values["status"] = "FAILED"
        else:
            values["next_attempt_at"] = next_attempt_at
        with self.write() as conn:
            return bool(conn.execute(
                D.update().where(D.c.id == delivery_id, D.c.lease_owner == owner).values(**values)
            ).rowcount)  # fmt: skip

    def release_deliveries(self, delivery_ids: Sequence[int], owner: str) -> None:
        """Give back leases of deliveries not attempted (the worker is stopping)."""
        if delivery_ids:
            with self.write() as conn:
                conn.execute(D.update().where(D.c.id.in_(list(delivery_ids)), D.c.lease_owner == owner)
                             .values(lease_owner=None, lease_until=None))  # fmt: skip

    def delivery_rows(self, event_seq: int | None = None) -> list[dict[str, Any]]:
        """Every delivery row (of one event), as dicts: for ``fluxnex events list`` and tests."""
        query = sa.select(D).order_by(D.c.id)
        if event_seq is not None:
            query = query.where(D.c.event_seq == event_seq)
        with self.engine.connect() as conn:
            return [dict(m) for m in conn.execute(query).mappings()]

    def queue_stats(self, now: dt.datetime) -> tuple[int, float]:
        """Pending deliveries and the age in seconds of the oldest (0 when none): the queue depth and lag."""
        with self.engine.connect() as conn:
            n, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(D.c.created_at)).where(D.c.status == "PENDING")
            ).one()  # fmt: skip
        if not n or oldest is None:
            return 0, 0.0
        from fluxnex.storage.store._outbox import as_utc

        if isinstance(oldest, str):  # SQLite aggregates lose the column type
            oldest = dt.datetime.fromisoformat(oldest)
        return int(n), max(0.0, (now - as_utc(oldest)).total_seconds())
