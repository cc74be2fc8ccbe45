"""Every CLI error is one line on stderr and exit 1 (a JSON object with --json); logging only with -v."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from fluxnex import CredentialManager, hookimpl
from fluxnex.cli import cli
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import SandboxProvider

TENANT = str(uuid.UUID("11111111-2222-3333-4444-555555555555"))
PG = os.environ.get("FLUXNEX_TEST_POSTGRES_URL")


def _env(url: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")},
            "FLUXNEX_DATABASE_URL": url, "FLUXNEX_ENCRYPTION_KEYS": generate_key_line("k1")}


def fluxnex(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["fluxnex", *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=60)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip()


def _pg(database: str | None = None, user: str | None = None, port: int | None = None) -> str:
    from sqlalchemy.engine import make_url

    if not PG:
        pytest.skip("FLUXNEX_TEST_POSTGRES_URL is not set")
    url = make_url(PG)
    url = url.set(database=database or url.database, username=user or url.username, port=port or url.port)
    return url.render_as_string(hide_password=False)


@pytest.mark.parametrize(("make_url", "expected"), [
    (lambda tmp: _pg(port=1), r"port 1 failed: Connection refused \(is the server running"),
    (lambda tmp: _pg(database="fluxnex_no_such_db"), r'database "fluxnex_no_such_db" does not exist \(check'),
    (lambda tmp: _pg(user="fluxnex_no_such_role"), r'role "fluxnex_no_such_role" does not exist \(check'),
    (lambda tmp: "sqlite:////proc/fluxnex.db", r"unable to open database file \(check that .* writable\)"),
    (lambda tmp: f"sqlite:///{tmp}/missing/dir/x.db", r"directory of the SQLite database does not exist"),
], ids=["closed-port", "unknown-database", "unknown-role", "unwritable-sqlite", "missing-sqlite-dir"])
def test_database_problems_are_one_line(tmp_path: Path, make_url: Callable[[Path], str], expected: str) -> None:
    env = _env(make_url(tmp_path))
    for args in (["connections", "list", "--tenant", TENANT], ["status"]):
        line = one_line_error(fluxnex(env, *args))
        assert __import__("re").search(expected, line), line
    assert not (tmp_path / "missing").exists()  # an explicit SQLite URL never creates its directory


def test_postgresql_without_psycopg_says_which_extra_to_install(tmp_path: Path) -> None:
    script = ("import sys; sys.modules['psycopg'] = None\n"
              "from fluxnex.cli import main; main(['connections', 'list', '--tenant', sys.argv[1]])")
    proc = subprocess.run([sys.executable, "-c", script, TENANT], capture_output=True, text=True, timeout=60,
                          env=_env("postgresql://postgres@127.0.0.1:5432/test"), stdin=subprocess.DEVNULL)
    assert one_line_error(proc) == (
        "Error: PostgreSQL needs the psycopg driver, which is not installed: pip install 'fluxnex-core[postgres]'"
    )


def test_json_commands_print_errors_as_a_json_object(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'db.sqlite'}")
    proc = fluxnex(env, "connections", "show", "--tenant", TENANT, "missing", "--json")
    assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.count("\n") == 1
    assert json.loads(proc.stderr) == {"error": f"connection 'missing' not found for tenant {TENANT}",
                                       "type": "ConnectionNotFound", "hint": None}
    usage = fluxnex(env, "connections", "list", "--tenant", TENANT, "--bogus")
    assert usage.returncode == 2  # click's usage errors keep their exit code


def test_logging_reaches_stderr_only_with_verbose(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with SandboxProvider() as sandbox:
        mgr = CredentialManager(env["FLUXNEX_DATABASE_URL"], env["FLUXNEX_ENCRYPTION_KEYS"])
        tokens = sandbox.issue_tokens()
        mgr.create_connection(TENANT, "oAuth2Api", "o", {**sandbox.oauth2_data(), "oauthTokenData": tokens})
        mgr.close()
        sandbox.fail_always("500")
        quiet = fluxnex(env, "connections", "refresh", "--tenant", TENANT, "o")
        assert "HTTP 500" in one_line_error(quiet)
        loud = fluxnex(env, "-v", "connections", "refresh", "--tenant", TENANT, "o")
        assert loud.returncode == 1 and "WARNING fluxnex.refresh" in loud.stderr
        assert "outcome=transient_error" in loud.stderr
        assert loud.stderr.rstrip().splitlines()[-1].startswith("Error: refreshing 'o' failed")
        assert tokens["refresh_token"] not in loud.stderr + quiet.stderr


class _LeakyPlugin:
    """A plugin whose refresh hook fails with a requests exception carrying a secret in its URL."""

    @hookimpl
    def register_credential_types(self, register: Any) -> None:
        register({"name": "leakyApi", "displayName": "Leaky", "properties": [
            {"displayName": "Token", "name": "token", "type": "string", "typeOptions": {"password": True},
             "default": ""}]})

    @hookimpl
    def refresh_token(self, credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
        if credential_type.name != "leakyApi":
            return None
        raise requests.HTTPError(f"401 Client Error: Unauthorized for url: https://api.leaky.example/token?"
                                 f"refresh_token={data['token']}&x=1")


@pytest.fixture
def leaky(register_plugin: Callable[..., list[str]], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    register_plugin(_LeakyPlugin(), name="leaky-plugin")
    for name, value in _env(f"sqlite:///{tmp_path / 'db.sqlite'}").items():
        monkeypatch.setenv(name, value)
    mgr = CredentialManager()
    mgr.create_connection(TENANT, "leakyApi", "L", {"token": "s3cr3t-token-value"})
    mgr.close()
    yield "s3cr3t-token-value"


def test_a_failing_plugin_hook_is_named_without_the_urls_query(leaky: str) -> None:
    result = CliRunner().invoke(cli, ["connections", "refresh", "--tenant", TENANT, "L"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "Error: plugin leaky-plugin failed in refresh_token(): HTTPError: 401 Client Error: Unauthorized for url: "
        "https://api.leaky.example/token?[redacted]\n"
    )
    assert leaky not in result.stderr
    verbose = CliRunner().invoke(cli, ["-v", "connections", "refresh", "--tenant", TENANT, "L"])
    assert verbose.exit_code == 1 and "in refresh_token" in verbose.stderr and leaky not in verbose.stderr


def test_destructive_commands_refuse_without_a_terminal_unless_yes(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'db.sqlite'}")
    mgr = CredentialManager(env["FLUXNEX_DATABASE_URL"], env["FLUXNEX_ENCRYPTION_KEYS"])
    mgr.create_connection(TENANT, "revenovaApi", "R", {"accessToken": "tok-12345678"})
    refused = fluxnex(env, "connections", "delete", "--tenant", TENANT, "R")
    assert "refusing to delete connection 'R' without --yes" in one_line_error(refused)
    assert mgr.get_connection_info(TENANT, "R").name == "R"  # still there
    assert fluxnex(env, "connections", "delete", "--tenant", TENANT, "R", "--yes").returncode == 0
    assert mgr.list_connections(TENANT) == []
    mgr.close()
