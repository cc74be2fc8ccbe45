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
    from ..store import current_revision, head_revision
    from ._context import manager

    mgr = manager()
    registry = mgr.registry
    keys = _key_report(mgr)
    counts = {status.value: n for status, n in mgr.store.count_by_status().items()}
    report: dict[str, Any] = {
        "database": redact_url(mgr.database_url),
        "revision": current_revision(mgr.database_url),
        "head_revision": head_revision(),
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
        rows = f"{info['rows']} connection(s)"
        if not info["in_keyring"]:
            click.echo(f"  MISSING {kid}: {rows} under a key the keyring lacks cannot be decrypted")
        elif info["fingerprint"] == "differs":
            click.echo(f"  CHANGED {kid}: {rows}; this key is not the one the database recorded for {kid}")
        else:
            click.echo(f"  {kid}: {rows}")
    click.echo(f"plugins:     {', '.join(report['plugins'])}")
    for failed in report["failed_plugins"]:
        click.echo(f"  FAILED {failed}")
    click.echo(f"types:       {report['types']}")
    click.echo("connections: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _key_report(mgr: Any) -> dict[str, dict[str, Any]]:
    """Per key id: rows it encrypts, whether the keyring holds it, and its fingerprint check (no decryption)."""
    from ..key_fingerprints import recorded_fingerprints, rows_per_kid

    counts = rows_per_kid(mgr.store)
    recorded = recorded_fingerprints(mgr.store)
    others = {k for k in set(counts) | set(recorded) if k is not None and k not in mgr.keyring.kids}
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
        report[kid] = {"rows": counts.get(kid, 0), "in_keyring": in_ring, "fingerprint": check}
    return report
