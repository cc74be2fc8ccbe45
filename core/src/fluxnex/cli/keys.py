"""``fluxnex keys generate|rotate``."""

from __future__ import annotations

import sys
from typing import Any

import click

from fluxnex.cli._output import JSON_OPTION, echo_json


@click.group("keys")
def keys_group() -> None:
    """Generate encryption keys and re-encrypt stored data under the primary key."""


@keys_group.command("generate")
@click.option("--kid", help="Key id (default: k<date>-<random>).")
def generate_key(kid: str | None) -> None:
    """Print a new key line `kid:<urlsafe base64 of 32 random bytes>` for FLUXNEX_ENCRYPTION_KEYS."""
    from fluxnex.storage.crypto import generate_key_line

    click.echo(generate_key_line(kid))


@keys_group.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--check-first", is_flag=True,
              help="Decrypt every connection before rewriting any (reads the table twice).")
@JSON_OPTION
def rotate(batch_size: int, check_first: bool, as_json: bool) -> None:
    """Re-encrypt every connection under the primary (first) key; resumable, safe while others read and write.

    If a connection is under a key the keyring lacks, nothing is rewritten. A connection that fails to decrypt
    under a known key stops the rotation there (the batches before it stay rotated); with --check-first every
    connection is decrypted first and nothing is rewritten if one fails.
    """
    from fluxnex.contract.errors import DecryptionError
    from fluxnex.storage.config import database_url, load_keyring
    from fluxnex.storage.key_fingerprints import check_all_readable, unknown_key_problem, verify_keyring
    from fluxnex.storage.rotation import RotationProgress, RotationResult, rotate_keys
    from fluxnex.storage.store import ConnectionStore

    url = database_url()
    keyring = load_keyring(url)
    store = ConnectionStore(url)
    if check_first:  # before anything is rewritten
        unreadable = list(check_all_readable(store, keyring, batch_size=batch_size))
        if unreadable:
            more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
            raise DecryptionError(f"nothing rotated: {unreadable[0]}{more}")
    problem = unknown_key_problem(store, keyring)
    if problem:
        raise DecryptionError(f"nothing rotated: {problem}")
    verify_keyring(store, keyring)  # a changed key is refused; the new primary's fingerprint is recorded
    total = store.count()
    bar_context: Any = click.progressbar(
        length=total, label=f"re-encrypting under {keyring.primary_kid}", file=sys.stderr, show_pos=True
    )
    done = RotationResult()
    with bar_context as bar:
        seen = 0

        def progress(step: RotationProgress) -> None:
            nonlocal seen, done
            bar.update(step.seen - seen)
            seen, done = step.seen, step.result

        try:
            result = rotate_keys(store, keyring, batch_size=batch_size, progress=progress)
        except DecryptionError as exc:
            raise DecryptionError(
                f"rotation stopped: {exc}; {done.rotated} connection(s) were rotated before it, the others are "
                "unchanged (repair or delete that connection, then run again: rotated rows are skipped)"
            ) from None
    from fluxnex.storage.store._webhooks import WebhookStore

    from ._context import manager

    apps = manager().oauth_apps.reencrypt()  # the connect service's OAuth apps, under the same keyring
    secrets = WebhookStore(store.engine).reencrypt_secrets(keyring)  # the webhook endpoints' signing secrets
    summary = {"primary_kid": keyring.primary_kid, "rotated": result.rotated,
               "already_primary": result.skipped_already_primary, "conflicts_retried": result.conflicts_retried,
               "oauth_apps_rotated": apps, "webhook_secrets": secrets}
    if as_json:
        echo_json(summary)
    else:
        click.echo(
            f"Rotated {result.rotated} connection(s) to key {keyring.primary_kid!r}; "
            f"{result.skipped_already_primary} already under it; {result.conflicts_retried} conflict(s) retried"
            + (f"; {apps} OAuth app(s) re-encrypted" if apps else "")
            + (f"; {secrets} webhook secret(s) re-encrypted." if secrets else ".")
        )
