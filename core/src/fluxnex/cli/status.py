"""``fluxnex status``: database, migration revision, key ids, plugins and connections per status."""

from __future__ import annotations

from typing import Any

import click

from fluxnex.cli._output import JSON_OPTION, echo_json


@click.command("status")
@click.option("--keys", "count_keys", is_flag=True,
              help="Also count the connections under each key id (reads every row: slow on big tables).")  # fmt: skip
@JSON_OPTION
def status_command(count_keys: bool, as_json: bool) -> None:
    """Show where data lives, the key ids, the plugins and how many connections are in each status.

    Key ids recorded in the database but missing from the keyring, and keys that differ from the recorded
    ones, are flagged; --keys adds how many connections each key id encrypts.
    """
    from fluxnex.cli._context import manager
    from fluxnex.storage.config import redact_url
    from fluxnex.storage.store import SQLiteReader

    mgr = manager()
    registry = mgr.registry
    reads = mgr.reads
    keys = _key_report(mgr, reads, count_keys)
    counts = {status.value: n for status, n in reads.count_by_status().items()}
    revision: str | None
    if isinstance(reads, SQLiteReader):  # at head, read without SQLAlchemy or Alembic
        revision = head = reads.revision
    else:
        from fluxnex.storage.store import current_revision, head_revision

        revision, head = current_revision(mgr.database_url), head_revision()
    report: dict[str, Any] = {
        "database": redact_url(mgr.database_url),
        "revision": revision,
        "head_revision": head,
        "key_ids": list(mgr.keyring.kids),
        "primary_key_id": mgr.keyring.primary_kid,
        "keys": keys,
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
    for kid, info in keys.items():
        rows = "recorded in the database" if info["rows"] is None else f"{info['rows']} connection(s)"
        if not info["in_keyring"]:
            click.echo(f"  MISSING {kid}: {rows} under a key the keyring lacks cannot be decrypted")
        elif info["fingerprint"] == "differs":
            click.echo(f"  CHANGED {kid}: {rows}; this key is not the one the database recorded for {kid}")
        elif info["rows"] is not None:
            click.echo(f"  {kid}: {rows}")
    click.echo(f"plugins:     {', '.join(report['plugins'])}")
    for failed in report["failed_plugins"]:
        click.echo(f"  FAILED {failed}")
    click.echo(f"types:       {report['types']}")
    click.echo("connections: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _key_report(mgr: Any, reads: Any, count_keys: bool) -> dict[str, dict[str, Any]]:
    """Per key id: whether the keyring holds it, its fingerprint check and (``count_keys``) the rows it encrypts.

    Without ``count_keys`` only the ``key_fingerprint`` table is read (a few rows, whatever the table holds);
    counting reads every envelope's plaintext kid. Nothing is decrypted.
    """
    from fluxnex.storage.store import SQLiteReader

    if isinstance(reads, SQLiteReader):  # the fast path imports no SQLAlchemy
        recorded = reads.recorded_fingerprints()
        counts: dict[Any, int] | None = reads.rows_per_kid() if count_keys else None
    else:
        from fluxnex.storage.key_fingerprints import recorded_fingerprints, rows_per_kid

        recorded = recorded_fingerprints(reads)
        counts = rows_per_kid(reads) if count_keys else None
    others = {k for k in set(counts or {}) | set(recorded) if k is not None and k not in mgr.keyring.kids}
    kids = list(mgr.keyring.kids) + sorted(others)
    report: dict[str, dict[str, Any]] = {}
    for kid in kids:
        in_ring = kid in mgr.keyring.kids
        if kid not in recorded:
            check = "not recorded"
        elif not in_ring:
            check = "recorded"
        else:
            check = "matches" if recorded[kid] == mgr.keyring.fingerprint(kid) else "differs"
        report[kid] = {"rows": None if counts is None else counts.get(kid, 0), "in_keyring": in_ring,
                       "fingerprint": check}  # fmt: skip
    return report
