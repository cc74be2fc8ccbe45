"""``fluxnex export n8n --tenant T [--encrypt-with-n8n-key KEY|FILE] [--output F|-] [--json]``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fluxnex.cli._context import TENANT_OPTION, manager
from fluxnex.cli._output import JSON_OPTION, echo_json, echo_table


@click.group("export")
def export_group() -> None:
    """Export connections to other tools."""


@export_group.command("n8n")
@TENANT_OPTION
@click.option("--encrypt-with-n8n-key", "n8n_key", default=None, metavar="KEY|FILE",
              help="Encrypt each credential as n8n does, with this n8n encryption key (or a file holding it: "
                   "n8n's config file works).")
@click.option("--output", "output", default=None, metavar="FILE",
              help="The file to write (default n8n-credentials-TENANT.json; never overwritten). '-' writes the "
                   "export itself to stdout.")
@click.option("--skip-unexportable", is_flag=True,
              help="Leave out connections holding literal values that begin with '=' (n8n would evaluate them) "
                   "instead of failing.")
@JSON_OPTION
def export_n8n_command(tenant: str, n8n_key: str | None, output: str | None, skip_unexportable: bool,
                       as_json: bool) -> None:
    """Write every connection of the tenant to a file `n8n import:credentials --input=FILE` accepts.

    Without --encrypt-with-n8n-key the file holds the secrets decrypted (n8n's --decrypted form): it is
    written with mode 0600, and only a summary without secrets is printed.
    """
    import json

    from fluxnex.api.connection_info import parse_tenant
    from fluxnex.api.n8n_export import export_n8n, read_n8n_key, write_export

    tenant_id = parse_tenant(tenant)
    key = read_n8n_key(n8n_key) if n8n_key is not None else None
    mgr = manager()
    try:
        entries, items = export_n8n(mgr, tenant_id, n8n_key=key, skip_unexportable=skip_unexportable)
    finally:
        mgr.close()
    if output == "-":
        sys.stdout.write(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
        return
    path = Path(output) if output else Path(f"n8n-credentials-{tenant_id}.json")
    write_export(entries, path)
    form = "encrypted with the n8n key" if key is not None else "decrypted: keep it safe and delete it after use"
    skipped = [i for i in items if i.skipped]
    if as_json:
        echo_json({"file": str(path), "encrypted": key is not None, "count": len(entries),
                   "credentials": [i.to_json() for i in items if not i.skipped],
                   "skipped": [i.to_json() for i in skipped]})
        return
    echo_table(["NAME", "TYPE", "ID", "SKIPPED"], [[i.name, i.type, i.id, i.skipped] for i in items])
    click.echo(f"{len(entries)} credentials written to {path} ({form})" + (
        f", {len(skipped)} left out" if skipped else ""))
