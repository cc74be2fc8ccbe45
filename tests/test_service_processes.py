"""Two ``fluxnex serve`` processes over one PostgreSQL database, as behind a load balancer: a connect session
created through one is completed through the other (every piece of state lives in the database). The operator's
steps are the CLI's: ``api-keys create``, ``oauth-apps set``, ``serve``."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import SandboxProvider
from soak_support import PgDatabase

PG_ENV = "FLUXNEX_TEST_POSTGRES_URL"
TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000e5")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def database() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    pg = PgDatabase(base)  # fails (not skips) when the server is set but unreachable
    try:
        yield pg.url
    finally:
        pg.close()


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"fluxnex serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


def test_session_created_on_one_process_completes_through_the_other(database: str) -> None:
    keys = generate_key_line("svc")
    env = {**os.environ, "FLUXNEX_DATABASE_URL": database, "FLUXNEX_ENCRYPTION_KEYS": keys,
           "FLUXNEX_ALLOWED_RETURN_URLS": "http://127.0.0.1:9/app/"}

    def cli(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["fluxnex", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with SandboxProvider() as sandbox:
        cli("db", "upgrade")
        key = json.loads(cli("api-keys", "create", "--name", "backend", "--scope", "connect:create", "--json"))["key"]
        cli("oauth-apps", "set", "oAuth2Api", "--client-id", "sandbox-client", "--client-secret-stdin",
            "--set", f"authUrl={sandbox.authorize_url}", "--set", f"accessTokenUrl={sandbox.token_url}",
            stdin="sandbox-secret\n")
        assert "sandbox-secret" not in cli("oauth-apps", "list", "--json")
        ports = [_free_port(), _free_port()]
        public = f"http://127.0.0.1:{ports[0]}"  # what the load balancer's address would be
        procs = [subprocess.Popen(["fluxnex", "serve", "--port", str(p), "--public-url", public], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for p in ports]
        try:
            a, b = (f"http://127.0.0.1:{p}" for p in ports)
            for url, proc in zip((a, b), procs, strict=True):
                _wait_healthy(url, proc)
            created = requests.post(a + "/api/v1/connect-sessions", headers={"Authorization": f"Bearer {key}"},
                                    json={"tenant_id": str(TENANT), "type": "oAuth2Api", "name": "Shared",
                                          "return_url": "http://127.0.0.1:9/app/back"}, timeout=30)
            assert created.status_code == 201, created.text
            link = created.json()["url"]
            assert link.startswith(public + "/connect/")
            browser = requests.Session()
            page = browser.get(link.replace(a, b), timeout=30)  # the page from B
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert page.status_code == 200 and csrf
            to_provider = browser.post(link, data={"csrf_token": csrf.group(1)}, allow_redirects=False, timeout=30)
            assert to_provider.status_code == 303, to_provider.text[:300]  # the form posted to A
            callback = browser.get(to_provider.headers["location"], allow_redirects=False, timeout=30)
            finished = browser.get(callback.headers["location"].replace(a, b), allow_redirects=False, timeout=30)
            assert finished.status_code == 303, finished.text[:300]  # the callback completed on B
            back = parse_qs(urlsplit(finished.headers["location"]).query)
            assert back["status"] == ["ACTIVE"]
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(20)
        mgr = CredentialManager(database, keys)
        try:
            info = mgr.get_connection_info(TENANT, "Shared")
            assert [str(info.id)] == back["connection_id"]
            data = mgr.get_connection(TENANT, "Shared")
            assert sandbox.is_active(data["oauthTokenData"]["access_token"])
            assert "clientSecret" not in data  # the operator's app, inherited
        finally:
            mgr.close()


def test_serve_runs_with_no_configuration_on_the_embedded_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}
    env["FLUXNEX_HOME"] = str(tmp_path / "home")
    port = _free_port()
    proc = subprocess.Popen(["fluxnex", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        health = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).json()
        assert health["status"] == "ok" and health["revision"] == "0007"
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/types", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(20)
    assert (tmp_path / "home").is_dir()


def test_expired_sessions_and_states_are_purged(tmp_path: Path) -> None:
    import datetime as dt

    from fluxnex.storage.store._service import ServiceStore

    mgr = CredentialManager(f"sqlite:///{tmp_path / 'p.db'}", generate_key_line("p"))
    try:
        rows = ServiceStore(mgr.store)
        old, _ = rows.create_session(tenant_id=TENANT, type="revenovaApi", name="a", connection_id=None,
                                     return_url="http://127.0.0.1:9/app/", ttl_seconds=-2 * 86400, api_key_id=None)
        live, _ = rows.create_session(tenant_id=TENANT, type="revenovaApi", name="b", connection_id=None,
                                      return_url="http://127.0.0.1:9/app/", ttl_seconds=600, api_key_id=None)
        assert rows.purge_expired(dt.timedelta(days=1)) == 1
        assert rows.session_by_id(old.id) is None and rows.session_by_id(live.id) is not None
    finally:
        mgr.close()


def test_serve_without_the_server_extra_says_what_to_install() -> None:
    code = ("import sys\nsys.modules['uvicorn'] = None\nfrom fluxnex.cli import main\n"
            "sys.argv = ['fluxnex', 'serve']\nmain()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "pip install 'fluxnex-core[server]'" in done.stderr and "uvicorn is missing" in done.stderr


def test_keys_rotate_reencrypts_oauth_apps(tmp_path: Path) -> None:
    k1, k2 = generate_key_line("k1"), generate_key_line("k2")
    env = {**os.environ, "FLUXNEX_DATABASE_URL": f"sqlite:///{tmp_path / 'rot.db'}", "FLUXNEX_ENCRYPTION_KEYS": k1}

    def cli(*args: str, keys: str, stdin: str | None = None) -> str:
        done = subprocess.run(["fluxnex", *args], env={**env, "FLUXNEX_ENCRYPTION_KEYS": keys}, input=stdin,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("oauth-apps", "set", "hubspotOAuth2Api", "--client-id", "hs-app", "--client-secret-stdin", keys=k1,
        stdin="hs-secret\n")
    rotated = json.loads(cli("keys", "rotate", "--json", keys=f"{k2},{k1}"))
    assert rotated["oauth_apps_rotated"] == 1
    assert json.loads(cli("keys", "rotate", "--json", keys=f"{k2},{k1}"))["oauth_apps_rotated"] == 0
    listed = json.loads(cli("oauth-apps", "list", "--json", keys=k2))  # the old key is no longer needed
    assert listed[0]["client_id"] == "hs-app" and listed[0]["settings"] == ["clientId", "clientSecret"]
    mgr = CredentialManager(env["FLUXNEX_DATABASE_URL"], k2)
    try:
        assert mgr.oauth_apps.settings_for("hubspotOAuth2Api", TENANT)["clientSecret"] == "hs-secret"
    finally:
        mgr.close()
