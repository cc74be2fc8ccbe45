"""``fluxnex import n8n FILE --tenant T [--n8n-key K] [--json]``: import an ``n8n export:credentials`` file."""

from __future__ import annotations

import click

from fluxnex.cli._context import TENANT_OPTION, manager
from fluxnex.cli._output import JSON_OPTION, echo_json, echo_table


@click.group("import")
def import_group() -> None:
    """Import credentials from other tools."""


@import_group.command("n8n")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@TENANT_OPTION
@click.option("--n8n-key", "n8n_key", envvar="N8N_ENCRYPTION_KEY", show_envvar=True, default=None,
              help="n8n's encryption key, for an export made without --decrypted.")
@JSON_OPTION
def import_n8n(file: str, tenant: str, n8n_key: str | None, as_json: bool) -> None:
    """Import the credentials of FILE (the output of `n8n export:credentials`) into the tenant's connections.

    Both the --decrypted form and the encrypted form are read. A wrong key imports nothing; every entry is
    checked before any is written; a re-run skips what is already imported. Exits with status 1 when an
    entry was skipped for any reason other than being imported already.
    """
    from fluxnex.api.n8n_import import import_export

    mgr = manager()
    try:
        report = import_export(mgr, tenant, file, n8n_key=n8n_key)
    finally:
        mgr.close()
    failed = [i for i in report.skipped if i.outcome != "already imported"]
    if as_json:
        echo_json(report.to_json())
    else:
        rows = [(i.name, i.type, i.outcome, i.reason) for i in report.imported + report.skipped]
        echo_table(["NAME", "TYPE", "OUTCOME", "DETAIL"], rows)
        click.echo(f"{len(report.imported)} imported, {len(report.skipped)} skipped")
    if failed:
        raise SystemExit(1)
