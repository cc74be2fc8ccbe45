"""``fluxnex demo``: the whole token lifecycle, through the real code paths, against a local sandbox provider.

Nothing here is a demonstration-only path: the connection is made by ``connect_oauth2`` (authorization code +
PKCE through the loopback redirect), stored by ``CredentialManager`` in an embedded SQLite database of its own
(a temporary home, deleted at the end, unless ``--home DIR`` is given; never the user's configured database),
refreshed by ``RefreshWorker.run_once`` and read by
``get_connection`` and ``session``. The only stand-in is the browser: a small user agent follows the
provider's redirect to the local callback, as a person's browser would after they click "Allow".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from pathlib import Path

import click

DEMO_TENANT = uuid.uuid5(uuid.NAMESPACE_URL, "https://fluxnex.invalid/demo")
DEMO_NAME = "Sandbox demo"


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _follow_like_a_browser(url: str) -> None:
    import requests

    consent = requests.get(url, allow_redirects=False, timeout=10)
    location = consent.headers.get("Location")
    if consent.status_code not in (301, 302, 303, 307) or not location:
        raise click.ClickException(f"the sandbox did not redirect (HTTP {consent.status_code})")
    requests.get(location, timeout=10)


@click.command("demo")
@click.option("--token-lifetime", default=300, show_default=True, type=click.IntRange(1),
              help="Seconds the sandbox's access tokens live (within the worker's 10-minute horizon).")
@click.option("--home", type=click.Path(file_okay=False), help="Keep the demo's database and key in this "
              "directory (default: a temporary one, deleted at the end).")
def demo_command(token_lifetime: int, home: str | None) -> None:
    """Connect a sandbox OAuth2 account, store it encrypted, let the worker refresh it, read it back.

    It never touches the configured database: it works in a temporary home unless --home is given, and removes
    its connection at the end (the sandbox provider it points at is gone by then).
    """
    import tempfile

    if home is not None:
        _run(Path(home).expanduser(), token_lifetime, keep=True)
        return
    with tempfile.TemporaryDirectory(prefix="fluxnex-demo-") as tmp:
        _run(Path(tmp), token_lifetime, keep=False)


def _run(home: Path, token_lifetime: int, *, keep: bool) -> None:
    from fluxnex.api.connect import connect_oauth2
    from fluxnex.api.manager import CredentialManager
    from fluxnex.contract.errors import ConnectionNotFound
    from fluxnex.lifecycle.refresher import RefreshWorker
    from fluxnex.storage.config import ensure_key_file
    from fluxnex.storage.crypto import Keyring, generate_key_line
    from fluxnex.testing.sandbox import SandboxProvider

    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = Keyring.from_file(ensure_key_file(home / "demo.key")) if keep else Keyring.parse(generate_key_line("demo"))
    mgr = CredentialManager(f"sqlite:///{home / 'fluxnex.db'}", keys)
    click.echo(f"Working in {'--home ' if keep else 'a temporary home '}{home} "
               f"({'kept' if keep else 'deleted at the end; --home DIR keeps it'}).")
    step = 0

    def say(text: str) -> None:
        nonlocal step
        step += 1
        click.echo(f"[{step}] {text}")

    with SandboxProvider(expires_in=token_lifetime) as sandbox:
        say(f"sandbox OAuth2 provider listening on {sandbox.url} (strict refresh-token rotation)")
        with contextlib.suppress(ConnectionNotFound):
            mgr.delete_connection(DEMO_TENANT, DEMO_NAME)
        info = connect_oauth2(mgr, DEMO_TENANT, "oAuth2Api", DEMO_NAME, sandbox.oauth2_data(),
                              open_url=_follow_like_a_browser, timeout=30)
        say(f"connected {info.name!r} through authorization code + PKCE; stored in {mgr!r}")
        row = mgr.store.get(DEMO_TENANT, DEMO_NAME)
        assert row is not None
        first = mgr.decrypt(row)["oauthTokenData"]
        stored = json.dumps(row.data)
        plaintext_found = first["access_token"] in stored or first["refresh_token"] in stored
        say(f"row {row.id}: data column holds only the envelope (kid {row.data['kid']!r}, AES-256-GCM); "
            f"plaintext token in the database: {'YES (bug!)' if plaintext_found else 'no'}")
        say(f"access token {_fingerprint(first['access_token'])} expires at {row.expires_at:%H:%M:%S} UTC")
        summary = RefreshWorker(mgr, horizon=600).run_once()
        say(f"refresh worker cycle: {summary}")
        data = mgr.get_connection(DEMO_TENANT, DEMO_NAME)
        token = data["oauthTokenData"]
        after = mgr.get_connection_info(DEMO_TENANT, DEMO_NAME)
        say(f"get_connection -> access token {_fingerprint(token['access_token'])} "
            f"(new: {token['access_token'] != first['access_token']}), expires at {after.expires_at:%H:%M:%S} UTC, "
            f"refresh token rotated: {token['refresh_token'] != first['refresh_token']}")
        say(f"provider saw {sandbox.token_requests_for(first['refresh_token'])} refresh request(s) "
            "for the first refresh token")
        response = mgr.session(DEMO_TENANT, DEMO_NAME).get(sandbox.api_url)
        say(f"session GET {sandbox.api_url} -> HTTP {response.status_code}")
        mgr.delete_connection(DEMO_TENANT, DEMO_NAME)
        say("deleted the demo connection: its sandbox provider stops now")
    mgr.close()
    click.echo(f"Done. The demo's database and key {'remain in' if keep else 'are removed with'} {home}.")
