"""Recovering connections from the command line, through the installed ``fluxnex`` script against the sandbox.

Every message that suggests a command is followed literally: the test runs the exact command it prints.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_support import browser
from fluxnex import CredentialManager, NotConnected
from fluxnex.api.connect import connect_oauth2
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import SandboxProvider

TENANT = uuid.UUID("11111111-2222-3333-4444-555555555555")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")},
        "FLUXNEX_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
        "FLUXNEX_ENCRYPTION_KEYS": generate_key_line("k1"),
        "BROWSER": "true",  # webbrowser.open runs `true URL`: the test plays the browser
    }


@pytest.fixture
def manager(env: dict[str, str]) -> Iterator[CredentialManager]:
    mgr = CredentialManager(env["FLUXNEX_DATABASE_URL"], env["FLUXNEX_ENCRYPTION_KEYS"])
    yield mgr
    mgr.close()


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider(expires_in=3600) as provider:
        yield provider


def fluxnex(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["fluxnex", *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=60)


def run_connect(env: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a `fluxnex connect ...` command line, approving the authorization URL it prints like a person."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if line.strip().startswith("http://"):
            threading.Thread(target=browser, args=(line.strip(),), daemon=True).start()
            break
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, out, "".join(seen) + err)


def suggested_command(message: str) -> list[str]:
    match = re.search(r"`(fluxnex [^`]+)`", message)
    assert match, message
    return shlex.split(match.group(1))


@pytest.mark.parametrize("name", ["Prod", "Acme's QuickBooks (EU)"])
def test_the_reconnect_command_of_an_expired_connection_works_as_printed(
    env: dict[str, str], manager: CredentialManager, sandbox: SandboxProvider, name: str
) -> None:
    info = connect_oauth2(manager, TENANT, "oAuth2Api", name, sandbox.oauth2_data(), open_url=browser, timeout=10)
    sandbox.fail_next("invalid_grant")
    refreshed = fluxnex(env, "connections", "refresh", "--tenant", str(TENANT), name)
    assert refreshed.returncode == 1 and refreshed.stdout == ""
    assert refreshed.stderr.count("\n") == 1 and "has expired" in refreshed.stderr, refreshed.stderr
    assert manager.get_connection_info(TENANT, name).status.value == "EXPIRED"

    reconnected = run_connect(env, suggested_command(refreshed.stderr))
    assert reconnected.returncode == 0, reconnected.stderr
    assert f"Reconnected {name!r} (oAuth2Api): status ACTIVE" in reconnected.stdout
    after = manager.get_connection_info(TENANT, name)
    assert (after.id, after.created_at) == (info.id, info.created_at)  # in place
    assert (after.status.value, after.refresh_failures, after.last_error) == ("ACTIVE", 0, None)
    token = manager.get_connection(TENANT, name)["oauthTokenData"]
    assert sandbox.is_active(token["access_token"])
    assert "sandbox-secret" not in reconnected.stdout + reconnected.stderr


def test_a_working_connection_is_reconnected_only_when_confirmed(
    env: dict[str, str], manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    info = connect_oauth2(manager, TENANT, "oAuth2Api", "live", sandbox.oauth2_data(), open_url=browser, timeout=10)
    argv = ["fluxnex", "connect", "--tenant", str(TENANT), "--name", "live", "--no-browser", "--timeout", "20"]
    refused = fluxnex(env, *argv[1:])
    assert refused.returncode == 1 and "without --yes" in refused.stderr and refused.stderr.count("\n") == 1
    before_token = manager.get_connection(TENANT, "live")["oauthTokenData"]["access_token"]
    done = run_connect(env, [*argv, "--yes"])
    assert done.returncode == 0, done.stderr
    after = manager.get_connection_info(TENANT, "live")
    assert after.id == info.id and after.created_at == info.created_at
    assert manager.get_connection(TENANT, "live")["oauthTokenData"]["access_token"] != before_token


def test_an_oauth2_connection_added_without_a_token_is_not_connected_until_connected(
    env: dict[str, str], manager: CredentialManager, sandbox: SandboxProvider, tmp_path: Path
) -> None:
    (tmp_path / "client.json").write_text(json.dumps(sandbox.oauth2_data()))
    added = fluxnex(env, "connections", "add", "--tenant", str(TENANT), "--type", "oAuth2Api", "--name", "new",
                    "--data", str(tmp_path / "client.json"))
    assert added.returncode == 0, added.stderr
    assert "status NOT_CONNECTED" in added.stdout
    info = manager.get_connection_info(TENANT, "new")
    with pytest.raises(NotConnected, match="not connected to an account yet") as caught:
        manager.get_connection(TENANT, "new")
    tested = fluxnex(env, "connections", "test", "--tenant", str(TENANT), "new")
    assert tested.returncode == 1 and "not connected to an account" in tested.stdout
    listed = fluxnex(env, "connections", "list", "--tenant", str(TENANT), "--status", "NOT_CONNECTED", "--json")
    assert [r["name"] for r in json.loads(listed.stdout)] == ["new"]
    # the worker never claims it
    worker = fluxnex(env, "worker", "--once", "--json")
    assert worker.returncode == 0 and json.loads(worker.stdout.splitlines()[-1])["claimed"] == 0
    # the command `add` printed, the one get_connection's error names, and connect's: one and the same, working
    assert suggested_command(added.stdout) == suggested_command(str(caught.value))
    connected = run_connect(env, suggested_command(str(caught.value)))
    assert connected.returncode == 0, connected.stderr
    after = manager.get_connection_info(TENANT, "new")
    assert after.id == info.id and after.status.value == "ACTIVE"
    assert sandbox.is_active(manager.get_connection(TENANT, "new")["oauthTokenData"]["access_token"])


def test_refresh_reports_refreshed_transient_failure_and_nothing_to_refresh(
    env: dict[str, str], manager: CredentialManager, sandbox: SandboxProvider
) -> None:
    connect_oauth2(manager, TENANT, "oAuth2Api", "o", sandbox.oauth2_data(), open_url=browser, timeout=10)
    ok = fluxnex(env, "connections", "refresh", "--tenant", str(TENANT), "o")
    assert ok.returncode == 0 and ok.stdout.startswith("Refreshed 'o': status ACTIVE") and ok.stderr == ""

    sandbox.fail_next("500")
    before = manager.get_connection_info(TENANT, "o")
    failed = fluxnex(env, "connections", "refresh", "--tenant", str(TENANT), "o")
    assert failed.returncode == 1 and failed.stdout == "" and failed.stderr.count("\n") == 1, failed.stderr
    assert "failed and will be retried" in failed.stderr and "HTTP 500" in failed.stderr
    assert before.expires_at is not None
    assert f"still works until {before.expires_at.isoformat(timespec='seconds')}" in failed.stderr
    as_json = fluxnex(env, "connections", "refresh", "--tenant", str(TENANT), "o", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["outcome"] == "refreshed"

    manager.create_connection(TENANT, "revenovaApi", "static", {"accessToken": "tok-12345678"})
    row = manager.store.get(TENANT, "static")
    static = fluxnex(env, "connections", "refresh", "--tenant", str(TENANT), "static")
    assert static.returncode == 0 and static.stdout.startswith("Nothing to refresh"), static.stderr
    after = manager.store.get(TENANT, "static")
    assert row is not None and after is not None
    assert (after.version, after.status, after.last_error, after.refresh_failures) == (row.version, row.status, None, 0)
    assert manager.get_connection(TENANT, "static") == {"accessToken": "tok-12345678",
                                                          "instanceUrl": "https://login.salesforce.com"}


def test_connections_update_merges_values_renames_and_keeps_the_token(
    env: dict[str, str], manager: CredentialManager, sandbox: SandboxProvider, tmp_path: Path
) -> None:
    info = connect_oauth2(manager, TENANT, "oAuth2Api", "o", sandbox.oauth2_data(), open_url=browser, timeout=10)
    token = manager.get_connection(TENANT, "o")["oauthTokenData"]
    (tmp_path / "change.json").write_text(json.dumps({"scope": "read write"}))
    done = fluxnex(env, "connections", "update", "--tenant", str(TENANT), "o", "--data",
                   str(tmp_path / "change.json"), "--rename", "o2")
    assert done.returncode == 0, done.stderr
    assert "Updated 'o' (oAuth2Api): values and name to 'o2'" in done.stdout
    data = manager.get_connection(TENANT, "o2")
    assert data["scope"] == "read write" and data["clientSecret"] == "sandbox-secret"
    assert data["oauthTokenData"]["access_token"] == token["access_token"]
    assert manager.get_connection_info(TENANT, "o2").id == info.id
    nothing = fluxnex(env, "connections", "update", "--tenant", str(TENANT), "o2")
    assert nothing.returncode == 1 and "nothing to update" in nothing.stderr
    bad = fluxnex(env, "connections", "update", "--tenant", str(TENANT), "o2", "--data", "-")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: --data -: not valid JSON")


def test_demo_runs_in_a_temporary_home_unless_home_and_leaves_no_connection(env: dict[str, str],
                                                                              tmp_path: Path) -> None:
    configured = tmp_path / "cli.sqlite"
    demo = fluxnex(env, "demo", "--token-lifetime", "60")
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.startswith("Working in a temporary home /") and demo.stderr == ""
    temporary = Path(demo.stdout.split()[4])
    assert not temporary.exists() and not configured.exists()  # removed; the configured database untouched
    home = tmp_path / "demo-home"
    kept = fluxnex(env, "demo", "--token-lifetime", "60", "--home", str(home))
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.startswith(f"Working in --home {home} (kept)")
    mgr = CredentialManager(f"sqlite:///{home / 'fluxnex.db'}", (home / "demo.key").read_text().strip())
    assert mgr.list_connections(uuid.uuid5(uuid.NAMESPACE_URL, "https://fluxnex.invalid/demo")) == []
    mgr.close()


def test_connect_on_a_static_type_suggests_an_add_command_that_works(env: dict[str, str],
                                                                      manager: CredentialManager) -> None:
    refused = fluxnex(env, "connect", "--tenant", str(TENANT), "--type", "httpHeaderAuth", "--name", "Key 1")
    assert refused.returncode == 1 and "is not OAuth2: store it with" in refused.stderr, refused.stderr
    suggested = suggested_command(refused.stderr)
    added = subprocess.run(suggested, input="header-secret-value\n", capture_output=True, text=True, env=env,
                           timeout=60)
    assert added.returncode == 0, added.stderr
    assert manager.get_connection(TENANT, "Key 1")["value"] == "header-secret-value"
