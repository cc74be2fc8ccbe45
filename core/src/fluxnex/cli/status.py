"""``fluxnex status``: database, migration revision, key ids, plugins and connections per status."""

from __future__ import annotations

from typing import Any

import click

from ._output import JSON_OPTION, echo_json


@click.command("status")
@JSON_OPTION
def status_command(as_json: bool) -> None:
    """Show where data lives, the key ids, the plugins and how many connections are in each status."""
    from ..config import redact_url
    from ..store import SQLiteReader
    from ._context import manager

    mgr = manager()
    registry = mgr.registry
    reads = mgr.reads
    counts = {status.value: n for status, n in reads.count_by_status().items()}
    revision: str | None
    if isinstance(reads, SQLiteReader):  # at head, read without SQLAlchemy or Alembic
        revision = head = reads.revision
    else:
        from ..store import current_revision, head_revision

        revision, head = current_revision(mgr.database_url), head_revision()
    report: dict[str, Any] = {
        "database": redact_url(mgr.database_url),
        "revision": revision,
        "head_revision": head,
        "key_ids": list(mgr.keyring.kids),
        "primary_key_id": mgr.keyring.primary_kid,
        "plugins": [p.label for p in registry.plugins],
        "failed_plugins": [f"{f.distribution}: {f.error}" for f in registry.failures],
        "types": len(registry.names()),
        "connections": counts,
    }
    if as_json:
        echo_json(report)
        return
    click.echo(f"database:    {report['database']}")
    click.echo(f"revision:    {report['revision']} (newest known {report['head_revision']})")
    click.echo(f"keys:        {', '.join(report['key_ids'])} (primary {report['primary_key_id']})")
    click.echo(f"plugins:     {', '.join(report['plugins'])}")
    for failed in report["failed_plugins"]:
        click.echo(f"  FAILED {failed}")
    click.echo(f"types:       {report['types']}")
    click.echo("connections: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
