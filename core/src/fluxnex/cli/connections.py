"""``fluxnex connections add|list|show|test|delete``; ``update`` and ``refresh`` live in ``_changes``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from fluxnex.cli._changes import refresh_connection, update_connection
from fluxnex.cli._connection_data import prompt_missing, read_data
from fluxnex.cli._context import TENANT_OPTION, confirm_or_refuse, manager, masked
from fluxnex.cli._output import JSON_OPTION, echo_json, echo_table
from fluxnex.contract.errors import FluxnexError


@click.group("connections")
def connections_group() -> None:
    """Add, list, show, update, test, refresh and delete connections."""


@connections_group.command("add")
@TENANT_OPTION
@click.option("--type", "type_name", required=True, help="Credential type name (see `fluxnex types list`).")
@click.option("--name", required=True, help="Connection name, unique per tenant.")
@click.option("--data", "data_source", metavar="FILE|-", help="JSON object with the values; prompts for the rest.")
@click.option("--no-input", is_flag=True, help="Never prompt: fail on missing required values.")
@JSON_OPTION
def add_connection(tenant: str, type_name: str, name: str, data_source: str | None, no_input: bool,
                   as_json: bool) -> None:
    """Validate and store a new connection."""
    from fluxnex.api.manager import parse_tenant

    parse_tenant(tenant)
    data = read_data(data_source)
    if not no_input and data_source != "-":
        data = prompt_missing(type_name, data)
    info = manager().create_connection(tenant, type_name, name, data)
    if as_json:
        echo_json(info.to_json())
        return
    click.echo(f"Stored connection {info.name!r} ({info.type}) id {info.id} status {info.status.value}")
    if info.status.value == "NOT_CONNECTED":
        import shlex

        click.echo(f"It has no token yet: connect it with `fluxnex connect --tenant {info.tenant_id} "
                   f"--type {info.type} --name {shlex.quote(info.name)}`")


@connections_group.command("list")
@TENANT_OPTION
@click.option("--type", "type_name", help="Only this credential type.")
@click.option("--status", type=click.Choice(["ACTIVE", "ERROR", "EXPIRED", "NOT_CONNECTED"], case_sensitive=False))
@JSON_OPTION
def list_connections(tenant: str, type_name: str | None, status: str | None, as_json: bool) -> None:
    """List a tenant's connections (no secrets)."""
    infos = manager().list_connections(tenant, type=type_name, status=status)
    if as_json:
        echo_json([i.to_json() for i in infos])
        return
    echo_table(
        ["NAME", "TYPE", "STATUS", "EXPIRES AT", "REFRESH TOKEN EXPIRES", "LAST ERROR"],
        [[i.name, i.type, i.status.value, _when(i.expires_at), _refresh_expiry(i), (i.last_error or "")[:60]]
         for i in infos],
    )


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "never"


def _refresh_expiry(info: Any) -> str:
    if info.refresh_expires_at is None:
        return ""
    return _when(info.refresh_expires_at) + (" RECONNECT SOON" if info.reconnect_soon else "")


@connections_group.command("show")
@TENANT_OPTION
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Print secret values instead of masking them.")
@JSON_OPTION
def show_connection(tenant: str, name: str, reveal: bool, as_json: bool) -> None:
    """Show a connection's info and data, secrets masked unless --reveal."""
    mgr = manager()
    info = mgr.get_connection_info(tenant, name)
    row = mgr.reads.get(info.tenant_id, name)
    assert row is not None
    data = mgr.decrypt(row)
    try:
        ct = mgr.credential_type(info.type)
    except FluxnexError:
        ct = None
    shown = masked(ct, data, reveal)
    if as_json:
        echo_json({**info.to_json(), "data": shown})
        return
    for key, value in info.to_json().items():
        click.echo(f"{key}: {value}")
    click.echo("data:")
    for key, value in shown.items():
        click.echo(f"  {key}: {json.dumps(value) if not isinstance(value, str) else value}")


@connections_group.command("test")
@TENANT_OPTION
@click.argument("name")
@JSON_OPTION
def test_connection(tenant: str, name: str, as_json: bool) -> None:
    """Send the type's test request and report whether the credentials work."""
    result = manager().test_connection(tenant, name)
    if as_json:
        echo_json({"ok": result.ok, "message": result.message, "status_code": result.status_code})
    else:
        click.echo(("OK" if result.ok else "FAILED") + (f": {result.message}" if result.message else ""))
    if not result.ok:
        sys.exit(1)


@connections_group.command("delete")
@TENANT_OPTION
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Revoke the token at the provider first (types that support it).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed when stdin is not a terminal).")
def delete_connection(tenant: str, name: str, revoke: bool, yes: bool) -> None:
    """Delete a connection (asks first; without a terminal, refuses unless --yes)."""
    mgr = manager()
    info = mgr.get_connection_info(tenant, name)
    confirm_or_refuse(f"Delete connection {name!r} ({info.type})?", yes=yes, what=f"delete connection {name!r}")
    if revoke:
        revoked = mgr.revoke_connection(tenant, name)
        click.echo("Revoked at the provider." if revoked else
                   "Nothing to revoke: no plugin or known revocation endpoint (RFC 7009) for this connection.")
    mgr.delete_connection(tenant, name)
    click.echo(f"Deleted connection {name!r}.")


connections_group.add_command(update_connection)
connections_group.add_command(refresh_connection)
