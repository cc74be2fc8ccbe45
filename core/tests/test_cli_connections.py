"""`fluxnex connections`, `keys`, `db` and `status` through click's runner, on a real SQLite database."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from fluxnex.cli import cli

TENANT = str(uuid.uuid4())
SECRET = "tok-" + uuid.uuid4().hex


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    values = {"FLUXNEX_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "FLUXNEX_ENCRYPTION_KEYS": f"k1:{key}"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_add_prompts_only_what_is_missing_and_masks_secrets(env: dict[str, str]) -> None:
    code, out, err = run("connections", "add", "--tenant", TENANT, "--type", "revenovaApi", "--name", "Rev",
                         input=f"{SECRET}\n")
    assert code == 0, err
    assert "Access Token" in out and SECRET not in out  # hidden input is not echoed
    code, out, _ = run("connections", "show", "--tenant", TENANT, "Rev")
    assert code == 0 and SECRET not in out and "accessToken: ********" in out
    assert "instanceUrl: https://login.salesforce.com" in out  # the default was filled in
    code, out, _ = run("connections", "show", "--tenant", TENANT, "Rev", "--reveal", "--json")
    assert json.loads(out)["data"]["accessToken"] == SECRET
    code, out, _ = run("connections", "list", "--tenant", TENANT, "--json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["Rev"] and SECRET not in out


def test_add_from_stdin_and_errors_are_one_line(env: dict[str, str]) -> None:
    code, _, err = run("connections", "add", "--tenant", TENANT, "--type", "revenovaApi", "--name", "A",
                       "--data", "-", input=json.dumps({"accessToken": SECRET}))
    assert code == 0, err
    code, _, err = run("connections", "add", "--tenant", TENANT, "--type", "revenovaApi", "--name", "A",
                       "--data", "-", input=json.dumps({"accessToken": SECRET}))
    assert code == 1 and err.strip().count("\n") == 0 and "already exists" in err
    code, _, err = run("connections", "add", "--tenant", TENANT, "--type", "revenovaApi", "--name", "B",
                       "--data", "-", input=json.dumps({"accessToken": 5, "bogus": 1}))
    assert code == 1 and "accessToken: expected a string" in err and "bogus: unknown field" in err
    assert SECRET not in err and "Traceback" not in err
    code, _, err = run("connections", "add", "--tenant", "not-a-uuid", "--type", "revenovaApi", "--name", "C",
                       "--data", "-", input="{}")
    assert code == 1 and "tenant_id must be a UUID" in err
    code, _, err = run("connections", "show", "--tenant", TENANT, "missing")
    assert code == 1 and "not found" in err
    code, out, _ = run("connections", "list", "--tenant", TENANT)
    assert "A" in out and "B " not in out  # nothing written by the failed add


def test_delete_keys_db_and_status(env: dict[str, str]) -> None:
    run("connections", "add", "--tenant", TENANT, "--type", "revenovaApi", "--name", "Gone", "--data", "-",
        input=json.dumps({"accessToken": SECRET}))
    code, out, _ = run("status", "--json")
    status = json.loads(out)
    assert code == 0 and status["connections"]["ACTIVE"] == 1 and status["key_ids"] == ["k1"]
    assert status["revision"] == status["head_revision"]
    code, out, _ = run("db", "current", "--json")
    assert json.loads(out)["current"] == status["head_revision"]
    code, line, _ = run("keys", "generate", "--kid", "k2")
    assert code == 0 and line.startswith("k2:") and len(base64.urlsafe_b64decode(line.strip()[3:])) == 32
    os.environ["FLUXNEX_ENCRYPTION_KEYS"] = line.strip() + "," + env["FLUXNEX_ENCRYPTION_KEYS"]
    code, out, _ = run("keys", "rotate", "--json")
    assert code == 0 and json.loads(out)["rotated"] == 1
    code, out, _ = run("keys", "rotate", "--json")
    assert json.loads(out) == {"primary_kid": "k2", "rotated": 0, "already_primary": 1, "conflicts_retried": 0,
                               "oauth_apps_rotated": 0, "webhook_secrets": 0}
    code, out, _ = run("connections", "show", "--tenant", TENANT, "Gone", "--reveal", "--json")
    assert json.loads(out)["data"]["accessToken"] == SECRET
    code, out, _ = run("connections", "delete", "--tenant", TENANT, "Gone", "--yes")
    assert code == 0
    code, _, err = run("connections", "delete", "--tenant", TENANT, "Gone", "--yes")
    assert code == 1 and "not found" in err


def test_list_shows_reconnect_soon_when_the_refresh_token_itself_expires_soon(env: dict[str, str]) -> None:
    import time

    from fluxnex import CredentialManager

    mgr = CredentialManager()
    client = {"clientId": "c", "clientSecret": "s", "authUrl": "https://a.example/auth",
              "accessTokenUrl": "https://a.example/token"}
    for name, days in (("soon", 3), ("later", 60)):
        token = {"access_token": "a", "refresh_token": "r", "expires_in": 3600,
                 "refresh_token_expires_at": time.time() + days * 86400}
        mgr.create_connection(TENANT, "oAuth2Api", name, {**client, "oauthTokenData": token})
    mgr.close()
    code, out, _ = run("connections", "list", "--tenant", TENANT)
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and rows["soon"].endswith("RECONNECT SOON") and "RECONNECT" not in rows["later"]
    code, out, _ = run("connections", "list", "--tenant", TENANT, "--json")
    assert {r["name"]: r["reconnect_soon"] for r in json.loads(out)} == {"later": False, "soon": True}
