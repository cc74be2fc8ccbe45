"""``fluxnex connect``: authorize an OAuth2 account and store it as a connection."""

from __future__ import annotations

import click

from ._context import TENANT_OPTION, manager
from ._output import JSON_OPTION, echo_json
from .connections import _read_data, prompt_missing


@click.command("connect")
@TENANT_OPTION
@click.option("--type", "type_name", required=True, help="An OAuth2 credential type (extends oAuth2Api).")
@click.option("--name", required=True, help="Connection name, unique per tenant.")
@click.option("--data", "data_source", metavar="FILE|-", help="JSON with client id/secret and settings.")
@click.option("--no-browser", is_flag=True, help="Print the authorization URL instead of opening a browser.")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(1), help="Seconds to wait.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Local redirect port (0: any free one).")
@JSON_OPTION
def connect_command(tenant: str, type_name: str, name: str, data_source: str | None, no_browser: bool,
                    timeout: float, port: int, as_json: bool) -> None:
    """Run the OAuth2 flow (authorization code + PKCE through a local redirect, or client credentials)."""
    from ..connect import connect_oauth2
    from ..manager import parse_tenant

    parse_tenant(tenant)
    data = _read_data(data_source)
    if data_source != "-":
        data = prompt_missing(type_name, data)

    def open_url(url: str) -> None:
        click.echo("Open this URL to authorize FluxNex:", err=True)
        click.echo(f"  {url}", err=True)
        if not no_browser:
            import webbrowser

            webbrowser.open(url)
        click.echo(f"Waiting up to {timeout:g} s for the provider's redirect...", err=True)

    info = connect_oauth2(manager(), tenant, type_name, name, data, open_url=open_url, timeout=timeout, port=port)
    if as_json:
        echo_json(info.to_json())
    else:
        expiry = info.expires_at.isoformat(timespec="seconds") if info.expires_at else "never"
        click.echo(f"Connected {info.name!r} ({info.type}): status {info.status.value}, token expires {expiry}")
