"""``fluxnex connections update`` and ``fluxnex connections refresh`` (which says what happened)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from fluxnex.cli._connection_data import prompt_missing, read_data
from fluxnex.cli._context import TENANT_OPTION, manager
from fluxnex.cli._output import JSON_OPTION, echo_json
from fluxnex.contract.errors import FluxnexError


def _when(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "never"


@click.command("update")
@TENANT_OPTION
@click.argument("name")
@click.option("--data", "data_source", metavar="FILE|-", help="JSON object with the values to change.")
@click.option("--rename", "new_name", metavar="NEW_NAME", help="Give the connection a new name.")
@click.option("--no-input", is_flag=True, help="Never prompt.")
@JSON_OPTION
def update_connection(tenant: str, name: str, data_source: str | None, new_name: str | None, no_input: bool,
                      as_json: bool) -> None:
    """Change a connection's values and/or name in place (same id; the stored token is kept).

    The values in --data are merged over the stored ones. Without --data or --rename, on a terminal, every
    property is asked again with the stored value as the default (secrets: leave empty to keep).
    """
    mgr = manager()
    info = mgr.get_connection_info(tenant, name)
    row = mgr.store.get(info.tenant_id, name)
    assert row is not None
    current = {k: v for k, v in mgr.decrypt(row).items() if k != "oauthTokenData"}
    given = read_data(data_source)
    interactive = not no_input and data_source is None and new_name is None and sys.stdin.isatty()
    if not given and new_name is None and not interactive:
        raise FluxnexError(f"nothing to update for {name!r}: give --data FILE|- and/or --rename NEW_NAME")
    changed = {**current, **given}
    if interactive:
        changed = _prompt_all(info.type, changed)
    data = None if changed == current else changed
    updated = mgr.update_connection(tenant, name, data=data, new_name=new_name)
    if as_json:
        echo_json(updated.to_json())
        return
    what = [w for w, done in (("values", data is not None), (f"name to {updated.name!r}", new_name)) if done]
    click.echo(f"Updated {name!r} ({updated.type}): " + (" and ".join(what) if what else "nothing changed"))


def _prompt_all(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Ask every shown property again, offering the stored value (a secret: empty keeps the stored one)."""
    from fluxnex.contract.plugins import get_registry
    from fluxnex.n8n.validation import visible_properties

    ct = get_registry().get(type_name)
    out = dict(data)
    for prop in visible_properties(ct, out):
        if prop.type == "hidden" or prop.name not in out:
            continue
        if prop.is_secret:
            answer = click.prompt(f"{prop.display_name} (empty: keep)", default="", hide_input=True,
                                  show_default=False)
            if answer != "":
                out[prop.name] = answer
        elif prop.type in ("string", "options", "number", "boolean"):
            out[prop.name] = _ask(prop, out[prop.name])
    return prompt_missing(type_name, out, only_required=False)  # what a changed choice shows (displayOptions)


def _ask(prop: Any, current: Any) -> Any:
    if prop.type == "boolean":
        return click.confirm(prop.display_name, default=bool(current))
    if prop.type == "options" and prop.option_values is not None:
        choice = click.Choice([str(v) for v in prop.option_values])
        answer = click.prompt(prop.display_name, type=choice, default=str(current))
        return next(v for v in prop.option_values if str(v) == answer)
    if prop.type == "number":
        value = click.prompt(prop.display_name, type=float, default=current)
        return int(value) if float(value).is_integer() else value
    return click.prompt(prop.display_name, default=str(current))


@click.command("refresh")
@TENANT_OPTION
@click.argument("name")
@JSON_OPTION
def refresh_connection(tenant: str, name: str, as_json: bool) -> None:
    """Refresh the connection's token now and say what happened.

    Exit 0: refreshed, or nothing to refresh (a static credential; nothing changed). Exit 1: the refresh failed
    (transient: the error and until when the current token still works; expired: how to reconnect).
    """
    from fluxnex.contract.errors import NotRefreshable, RefreshError

    mgr = manager()
    before = mgr.get_connection_info(tenant, name)
    try:
        mgr.refresh_connection(tenant, name)
    except NotRefreshable:
        _report(as_json, "nothing_to_refresh", f"Nothing to refresh: no plugin refreshes credentials of type "
                f"{before.type!r} (a static credential); {name!r} is unchanged.", before)
        return
    except RefreshError as exc:
        if not exc.transient:
            raise
        after = mgr.get_connection_info(tenant, name)
        raise FluxnexError(
            f"refreshing {name!r} failed and will be retried: {exc}; the current token expired at "
            f"{_when(after.expires_at)}"
        ) from None
    after = mgr.get_connection_info(tenant, name)
    if after.last_refreshed_at is not None and after.last_refreshed_at != before.last_refreshed_at:
        _report(as_json, "refreshed", f"Refreshed {name!r}: status {after.status.value}, token expires at "
                f"{_when(after.expires_at)}", after)
        return
    row = mgr.store.get(after.tenant_id, name)
    retry = f"; the next attempt is after {_when(row.next_attempt_at)}" if row and row.next_attempt_at else ""
    raise FluxnexError(
        f"refreshing {name!r} failed and will be retried: {after.last_error or 'unknown error'}; the current "
        f"token still works until {_when(after.expires_at)}{retry}"
    )


def _report(as_json: bool, outcome: str, text: str, info: Any) -> None:
    if as_json:
        echo_json({"outcome": outcome, **info.to_json()})
    else:
        click.echo(text)
