"""``fluxnex api-keys create|list|revoke``, ``fluxnex oauth-apps set|list|remove`` and ``fluxnex serve``.

``api-keys`` and ``oauth-apps`` need only the store; ``serve`` imports the web stack (the ``server`` extra).
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import click

from ._context import manager
from ._output import JSON_OPTION, echo_json, echo_table

SCOPE_CHOICES = ("connections:read", "connections:write", "credentials:read", "connect:create", "admin")


def _service_store() -> Any:
    from fluxnex.storage.store._service import ServiceStore

    return ServiceStore(manager().store)


@click.group("api-keys")
def api_keys_group() -> None:
    """Create, list and revoke API keys of the connect service (stored hashed; shown once)."""


@api_keys_group.command("create")
@click.option("--name", default="api key", show_default=True, help="What the key is for.")
@click.option("--tenant", "tenant", default=None, help="Bind the key to this tenant UUID (it sees no other).")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPE_CHOICES),
              help="A scope the key holds (repeatable).")
@JSON_OPTION
def create_key(name: str, tenant: str | None, scopes: tuple[str, ...], as_json: bool) -> None:
    """Create a key and print it once: it is stored only as a hash."""
    from fluxnex.api.connection_info import parse_tenant

    tenant_id = None if tenant is None else parse_tenant(tenant)
    record, key = _service_store().create_api_key(name, scopes, tenant_id)
    if as_json:
        echo_json({**record.to_json(), "key": key})
        return
    click.echo(key)
    click.echo(f"key {record.id} ({', '.join(record.scopes)}): shown once, store it now", err=True)


@api_keys_group.command("list")
@JSON_OPTION
def list_keys(as_json: bool) -> None:
    """List keys (never the keys themselves: their first characters only)."""
    keys = [k.to_json() for k in _service_store().list_api_keys()]
    if as_json:
        echo_json(keys)
        return
    echo_table(["ID", "NAME", "PREFIX", "TENANT", "SCOPES", "REVOKED"],
               [[k["id"], k["name"], k["prefix"] + "…", k["tenant_id"] or "(any)", " ".join(k["scopes"]),
                 "revoked" if k["revoked"] else ""] for k in keys])


@api_keys_group.command("revoke")
@click.argument("key_id")
@JSON_OPTION
def revoke_key(key_id: str, as_json: bool) -> None:
    """Revoke the key with this id (from `fluxnex api-keys list`)."""
    from fluxnex.contract.errors import FluxnexError

    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise FluxnexError(f"key id must be a UUID (see `fluxnex api-keys list`), got {key_id!r}") from None
    if not _service_store().revoke_api_key(parsed):
        raise FluxnexError(f"no live API key has id {key_id}")
    if as_json:
        echo_json({"id": key_id, "revoked": True})
    else:
        click.echo(f"revoked {key_id}")


@click.group("oauth-apps")
def oauth_apps_group() -> None:
    """Store a type's OAuth app (client id and secret) once, for every tenant or one; connections inherit it."""


@oauth_apps_group.command("set")
@click.argument("type_name", metavar="TYPE")
@click.option("--client-id", required=True)
@click.option("--client-secret-stdin", is_flag=True, help="Read the client secret from standard input.")
@click.option("--set", "extra", multiple=True, metavar="KEY=VALUE",
              help="Another setting of the type (e.g. authUrl=...), repeatable.")
@click.option("--tenant", "tenant", default=None, help="Only for this tenant UUID (default: every tenant).")
@JSON_OPTION
def set_app(type_name: str, client_id: str, client_secret_stdin: bool, extra: tuple[str, ...],
            tenant: str | None, as_json: bool) -> None:
    """Store or replace the app; rotating its secret takes effect for every connection at its next refresh."""
    from fluxnex.contract.errors import FluxnexError

    settings: dict[str, Any] = {"clientId": client_id}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FluxnexError(f"--set takes KEY=VALUE, got {item!r}")
        settings[key] = value
    if client_secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise FluxnexError("--client-secret-stdin read an empty line: nothing was stored")
        settings["clientSecret"] = secret
    info = manager().oauth_apps.set(type_name, settings, tenant)
    if as_json:
        echo_json(info.to_json())
    else:
        click.echo(f"OAuth app of {info.type} for {info.tenant_id or 'every tenant'}: {', '.join(info.settings)}")


@oauth_apps_group.command("list")
@JSON_OPTION
def list_apps(as_json: bool) -> None:
    """List apps: type, tenant, client id and which settings they hold (never the secret)."""
    apps = [a.to_json() for a in manager().oauth_apps.list()]
    if as_json:
        echo_json(apps)
        return
    echo_table(["TYPE", "TENANT", "CLIENT ID", "SETTINGS"],
               [[a["type"], a["tenant_id"] or "(every)", a["client_id"] or "", ", ".join(a["settings"])]
                for a in apps])


@oauth_apps_group.command("remove")
@click.argument("type_name", metavar="TYPE")
@click.option("--tenant", "tenant", default=None, help="The tenant's own app (default: the every-tenant app).")
@JSON_OPTION
def remove_app(type_name: str, tenant: str | None, as_json: bool) -> None:
    """Remove an app (connections that relied on it can no longer refresh until one is set again)."""
    from fluxnex.contract.errors import FluxnexError

    if not manager().oauth_apps.remove(type_name, tenant):
        raise FluxnexError(f"no OAuth app of type {type_name!r} for {tenant or 'every tenant'}")
    if as_json:
        echo_json({"type": type_name, "tenant_id": tenant, "removed": True})
    else:
        click.echo(f"removed the OAuth app of {type_name}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--public-url", default=None, help="The URL browsers reach this service at (default: http://HOST:PORT).")
@click.option("--allow-return-url", "allowed", multiple=True, metavar="PREFIX",
              help="A prefix return_url must start with (repeatable; also FLUXNEX_ALLOWED_RETURN_URLS, "
                   "comma-separated).")
@click.option("--frame-ancestors", default="'none'", show_default=True,
              help="CSP frame-ancestors of the connect pages (e.g. 'self' https://app.example.com).")
@click.option("--rate-limit", default="600/60", show_default=True, metavar="N/SECONDS",
              help="Requests per API key per window, counted in this process (N processes admit N times as many).")
@click.option("--session-ttl", default=1800, show_default=True, type=click.IntRange(60, 86_400), metavar="SECONDS",
              help="How long a connect session's link stays usable.")
@click.option("--loop-reads/--no-loop-reads", default=True, show_default=True,
              help="Answer credential and connection reads that need no refresh on the event loop, over a "
                   "connection of its own (one more than the pool) whose statements give up after 50 ms.")
def serve_command(host: str, port: int, public_url: str | None, allowed: tuple[str, ...], frame_ancestors: str,
                  rate_limit: str, session_ttl: int, loop_reads: bool) -> None:
    """Run the connect service (HTTP API and hosted connect pages) on uvicorn."""
    from fluxnex.contract.errors import FluxnexError

    try:
        import uvicorn

        from fluxnex.server import ServiceConfig, create_app
    except ModuleNotFoundError as exc:
        raise FluxnexError(
            f"the connect service needs the server extra ({exc.name} is missing): pip install 'fluxnex-core[server]'"
        ) from None
    env = [p.strip() for p in os.environ.get("FLUXNEX_ALLOWED_RETURN_URLS", "").split(",") if p.strip()]
    count, _, window = rate_limit.partition("/")
    if not (count.isdigit() and window.replace(".", "", 1).isdigit()):
        raise FluxnexError(f"--rate-limit takes N/SECONDS, got {rate_limit!r}")
    config = ServiceConfig(
        public_url=public_url or f"http://{host}:{port}", allowed_return_urls=(*allowed, *env),
        frame_ancestors=frame_ancestors, rate_limit=(int(count), float(window)), session_ttl=float(session_ttl),
        loop_reads=loop_reads,
    )
    mgr = manager()
    app = create_app(mgr, config)
    click.echo(f"fluxnex connect service on http://{host}:{port} (public URL {config.public_url})", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        mgr.close()
