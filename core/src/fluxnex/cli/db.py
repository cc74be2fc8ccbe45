"""``fluxnex db upgrade|current``."""

from __future__ import annotations

import click

from fluxnex.cli._output import JSON_OPTION, echo_json


@click.group("db")
def db_group() -> None:
    """Database migrations (Alembic, shipped inside fluxnex)."""


@db_group.command("upgrade")
def upgrade_command() -> None:
    """Apply every migration up to the newest this version knows."""
    from fluxnex.storage.config import database_url, redact_url
    from fluxnex.storage.store import current_revision, upgrade

    url = database_url()
    upgrade(url)
    click.echo(f"{redact_url(url)} is at revision {current_revision(url)}")


@db_group.command("current")
@JSON_OPTION
def current_command(as_json: bool) -> None:
    """Show the database's revision and the newest this version knows."""
    from fluxnex.storage.config import database_url, redact_url
    from fluxnex.storage.store import current_revision, head_revision

    url = database_url()
    current, head = current_revision(url), head_revision()
    if as_json:
        echo_json({"database": redact_url(url), "current": current, "head": head})
    else:
        click.echo(f"{redact_url(url)}: revision {current or '(empty)'}; newest known {head}")
