"""``fluxnex connect``: authorize an OAuth2 or OAuth1 account and store it as a connection, or reconnect one."""

from __future__ import annotations

import click

from fluxnex.cli._connection_data import prompt_missing, read_data
from fluxnex.cli._context import TENANT_OPTION, confirm_or_refuse, manager
from fluxnex.cli._output import JSON_OPTION, echo_json


@click.command("connect")
@TENANT_OPTION
@click.option("--type", "type_name", help="An OAuth2 or OAuth1 credential type (extends oAuth2Api or oAuth1Api). "
              "Not needed to reconnect an existing connection; oAuth2Api by default with --issuer.")
@click.option("--name", required=True, help="Connection name, unique per tenant.")
@click.option("--data", "data_source", metavar="FILE|-", help="JSON with client id/secret and settings.")
@click.option("--issuer", metavar="URL", help="Take the endpoints from this provider's metadata "
              "(OpenID Discovery / RFC 8414), including its revocation endpoint.")
@click.option("--yes", is_flag=True, help="Re-authorize an existing working connection without asking.")
@click.option("--no-browser", is_flag=True, help="Print the authorization URL instead of opening a browser.")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(1), help="Seconds to wait.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Local redirect port (0: any free one).")
@JSON_OPTION
def connect_command(tenant: str, type_name: str | None, name: str, data_source: str | None, issuer: str | None,
                    yes: bool, no_browser: bool, timeout: float, port: int, as_json: bool) -> None:
    """Run the OAuth2 flow (authorization code + PKCE through a local redirect, or client credentials), or
    OAuth1's three-legged flow (request token, approval, verifier through a local callback) for oAuth1Api types.

    On an existing connection it reconnects in place: same id, stored client settings, new token, status
    ACTIVE. An EXPIRED or NOT_CONNECTED connection is reconnected at once; a working one asks first (without a
    terminal: only with --yes).
    """
    from fluxnex.api.connect import connect_oauth2, oauth2_type
    from fluxnex.api.manager import parse_tenant
    from fluxnex.storage.store import Status

    tenant_id = parse_tenant(tenant)
    mgr = manager()
    data = read_data(data_source)
    existing = mgr.store.get(tenant_id, name)
    if existing is not None:
        if existing.status not in (Status.EXPIRED, Status.NOT_CONNECTED):
            confirm_or_refuse(f"Connection {name!r} is {existing.status.value}: re-authorize it in place?", yes=yes,
                              what=f"re-authorize the {existing.status.value} connection {name!r}")
        stored = {k: v for k, v in mgr.decrypt(existing).items() if k != "oauthTokenData"}
        data = {**stored, **data}
        type_name = type_name or existing.type
    if issuer is not None:
        from fluxnex.lifecycle.oauth2_metadata import apply_discovery

        data = apply_discovery(data, issuer, http=mgr.http, timeout=mgr.http_timeout)
        type_name = type_name or "oAuth2Api"
    if type_name is None:
        raise click.UsageError(f"connection {name!r} does not exist yet: give --type (or --issuer)")
    from fluxnex.api.connect_oauth1 import connect_oauth1, is_oauth1

    oauth1 = issuer is None and is_oauth1(mgr, type_name)
    if not oauth1:
        oauth2_type(mgr, type_name, tenant_id, name)  # before any prompt
    if data_source != "-":
        data = prompt_missing(type_name, data)

    def open_url(url: str) -> None:
        click.echo("Open this URL to authorize FluxNex:", err=True)
        click.echo(f"  {url}", err=True)
        if not no_browser:
            import webbrowser

            webbrowser.open(url)
        click.echo(f"Waiting up to {timeout:g} s for the provider's redirect...", err=True)

    if oauth1:
        info = connect_oauth1(mgr, tenant_id, type_name, name, data, open_url=open_url, timeout=timeout, port=port,
                              reconnect=existing is not None)
    else:
        info = connect_oauth2(mgr, tenant_id, type_name, name, data, open_url=open_url, timeout=timeout,
                              port=port, reconnect=existing is not None)
    if as_json:
        echo_json(info.to_json())
    else:
        verb = "Reconnected" if existing is not None else "Connected"
        expiry = info.expires_at.isoformat(timespec="seconds") if info.expires_at else "never"
        click.echo(f"{verb} {info.name!r} ({info.type}): status {info.status.value}, token expires {expiry}")
