"""``fluxnex webhooks add|list|remove`` and ``fluxnex events list|replay``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import click

from fluxnex.cli._context import manager
from fluxnex.cli._errors import redact_urls
from fluxnex.cli._output import JSON_OPTION, echo_json, echo_table
from fluxnex.contract.errors import FluxnexError


@click.group("webhooks")
def webhooks_group() -> None:
    """Add, list and remove webhook endpoints (Standard Webhooks, signed)."""


@webhooks_group.command("add")
@click.argument("url")
@click.option("--events", "events", multiple=True, metavar="TYPE",
              help="Event types to send (repeat or comma-separate; e.g. expired,refresh_failed). "
                   "Default: every type but connection.refreshed.")  # fmt: skip
@click.option("--tenant", default=None, help="Only this tenant's events (default: every tenant).")
@JSON_OPTION
def add_command(url: str, events: tuple[str, ...], tenant: str | None, as_json: bool) -> None:
    """Add an endpoint; prints its signing secret once (it is stored encrypted and never shown again)."""
    from fluxnex.lifecycle.events import Webhooks

    names = [n.strip() for value in events for n in value.split(",") if n.strip()]
    mgr = manager()
    try:
        endpoint, secret = Webhooks(mgr).add(url, names, tenant=tenant)
    finally:
        mgr.close()
    if as_json:
        echo_json({"id": str(endpoint.id), "secret": secret})
        return
    click.echo(f"Added webhook endpoint {endpoint.id}")
    click.echo(f"Signing secret (shown once, keep it with the receiver): {secret}")


@webhooks_group.command("list")
@JSON_OPTION
def list_command(as_json: bool) -> None:
    """List the endpoints (URLs with their query strings redacted; secrets never shown)."""
    from fluxnex.lifecycle.events import Webhooks

    mgr = manager()
    try:
        endpoints = Webhooks(mgr).list()
    finally:
        mgr.close()
    rows = [
        {"id": str(e.id), "url": redact_urls(e.url), "tenant": None if e.tenant_id is None else str(e.tenant_id),
         "events": list(e.events) if e.events is not None else None,
         "created_at": None if e.created_at is None else e.created_at.isoformat()}
        for e in endpoints
    ]  # fmt: skip
    if as_json:
        echo_json(rows)
        return
    echo_table(["ID", "URL", "TENANT", "EVENTS"], [
        [r["id"], r["url"], r["tenant"] or "(all)", ",".join(r["events"]) if r["events"] else "(all but refreshed)"]
        for r in rows
    ])  # fmt: skip


@webhooks_group.command("remove")
@click.argument("endpoint_id")
@JSON_OPTION
def remove_command(endpoint_id: str, as_json: bool) -> None:
    """Remove an endpoint and its queued deliveries."""
    from fluxnex.lifecycle.events import Webhooks

    mgr = manager()
    try:
        Webhooks(mgr).remove(endpoint_id)
    finally:
        mgr.close()
    if as_json:
        echo_json({"removed": endpoint_id})
    else:
        click.echo(f"Removed webhook endpoint {endpoint_id}")


@click.group("events")
def events_group() -> None:
    """List connection events and replay them to their webhook endpoints."""


@events_group.command("list")
@click.option("--failed", is_flag=True, help="Only events with a delivery that failed for good.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest events shown.")
@JSON_OPTION
def events_list_command(failed: bool, limit: int, as_json: bool) -> None:
    """List the newest events and how their deliveries stand."""
    from fluxnex.storage.store._webhooks import WebhookStore

    mgr = manager()
    try:
        listed = WebhookStore(mgr.store.engine).list(failed=failed, limit=limit)
    finally:
        mgr.close()
    rows: list[dict[str, Any]] = [
        {"id": str(e.id), "webhook_id": e.webhook_id, "type": e.type, "occurred_at": e.occurred_at.isoformat(),
         "dispatched": e.dispatched_at is not None, "deliveries": counts, **{"connection": e.data()}}
        for e, counts in listed
    ]  # fmt: skip
    if as_json:
        echo_json(rows)
        return
    echo_table(["ID", "TYPE", "CONNECTION", "STATUS", "OCCURRED", "DELIVERIES"], [
        [r["id"], r["type"], r["connection"]["name"], r["connection"]["status"],
         r["occurred_at"][:19].replace("T", " "), " ".join(f"{k.lower()}={v}" for k, v in sorted(counts.items()))
         or ("-" if r["dispatched"] else "queued")]
        for r, (_, counts) in zip(rows, listed, strict=True)
    ])  # fmt: skip


def _event_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.removeprefix("msg_"))
    except ValueError:
        raise FluxnexError(f"event id must be a UUID or a webhook-id (msg_...), got {value[:60]!r}") from None


@events_group.command("replay")
@click.argument("event_id")
@JSON_OPTION
def replay_command(event_id: str, as_json: bool) -> None:
    """Send an event again to every endpoint subscribed to it now (same webhook-id, attempts from zero)."""
    from fluxnex.lifecycle.events import Webhooks

    parsed = _event_id(event_id)
    mgr = manager()
    try:
        hooks = Webhooks(mgr)
        event = hooks.store.get(parsed)
        if event is None:
            raise FluxnexError(f"no event {parsed}: see `fluxnex events list`")
        targets = [e.id for e in hooks.list() if e.wants(event)]
        queued = hooks.store.requeue(parsed, targets, dt.datetime.now(dt.UTC))
    finally:
        mgr.close()
    if as_json:
        echo_json({"id": str(parsed), "queued": queued})
    else:
        click.echo(f"Queued event {parsed} for {queued} endpoint(s); `fluxnex worker` delivers it")
