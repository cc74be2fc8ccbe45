"""The refresh worker as real ``fluxnex worker`` processes: two at once on PostgreSQL, SIGTERM, the CLI output."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluxnex.api.manager import CredentialManager, with_token_expiry
from fluxnex.n8n.validation import validate
from fluxnex.storage.store import Status, connection_table
from fluxnex.testing.sandbox import SandboxProvider
from store_fixtures import *  # noqa: F403 - fixtures

UTC = dt.UTC
TENANT = uuid.UUID("00000000-0000-4000-8000-000000000002")


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    with SandboxProvider(expires_in=3600) as provider:
        yield provider


def worker_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}
    env.update(values)
    return env


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fluxnex", "worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def seed_due(manager: CredentialManager, sandbox: SandboxProvider, count: int, expires_in: int) -> list[str]:
    """Insert ``count`` connections in one transaction (as create_connection would store them); their refresh tokens."""
    ct = manager.credential_type("oAuth2Api")
    template = validate(ct, {**sandbox.oauth2_data(), "oauthTokenData": {"access_token": "x", "expires_in": 1}})
    now = dt.datetime.now(UTC)
    rows, tokens = [], []
    for i in range(count):
        issued = sandbox.issue_tokens(expires_in=expires_in)
        # a one-hour token with ``expires_in`` seconds left: due for the worker's default horizon
        token = {**issued, "expires_in": 3600, "expires_at": time.time() + expires_in}
        data = with_token_expiry({**template, "oauthTokenData": token})
        cid, name = uuid.uuid4(), f"conn-{i:05d}"
        rows.append(
            {"id": cid, "tenant_id": TENANT, "type": ct.name, "name": name,
             "data": manager.encrypt(TENANT, cid, ct.name, data, name=name), "status": Status.ACTIVE.value,
             **manager.token_columns(ct, data), "version": 1, "refresh_failures": 0, "created_at": now,
             "updated_at": now}
        )  # fmt: skip
        tokens.append(issued["refresh_token"])
    with manager.store.engine.begin() as conn:
        conn.execute(connection_table.insert(), rows)
    return tokens


def still_due(manager: CredentialManager, horizon: float = 600) -> int:
    until = dt.datetime.now(UTC) + dt.timedelta(seconds=horizon)
    return sum(1 for r in manager.store.list() if r.expires_at is not None and r.expires_at <= until)


def leases_held(manager: CredentialManager) -> int:
    return sum(1 for r in manager.store.list() if r.lease_owner is not None or r.lease_until is not None)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_worker_processes_refresh_each_connection_exactly_once(
    pg_schema_url: str, sandbox: SandboxProvider
) -> None:
    keys = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()
    manager = CredentialManager(database_url=pg_schema_url, encryption_keys=keys)
    try:
        tokens = seed_due(manager, sandbox, 2000, expires_in=300)
        assert still_due(manager) == 2000
        sandbox.configure(latency=0.01)
        env = worker_env(FLUXNEX_DATABASE_URL=pg_schema_url, FLUXNEX_ENCRYPTION_KEYS=keys)
        procs = [start_worker(env, "--once", "--json", "--concurrency", "16", "--batch-size", "50") for _ in "ab"]
        outputs = [p.communicate(timeout=240) for p in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err[-2000:]
        summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

        counts = [sandbox.token_requests_for(t) for t in tokens]
        problems = [line for _, e in outputs for line in e.splitlines() if "outcome=ok" not in line]
        assert counts.count(1) == 2000, (
            {n: counts.count(n) for n in set(counts)},
            summaries,
            "\n".join(problems[-20:]),
        )
        assert sandbox.token_requests.get("refresh_token") == 2000
        assert sum(s["claimed"] for s in summaries) == 2000
        assert sum(s["refreshed"] for s in summaries) == 2000
        assert all(s["claimed"] > 0 for s in summaries), summaries  # both took part
        assert all(s["failed"] == s["expired"] == s["skipped"] == 0 for s in summaries)
        assert still_due(manager) == 0
        assert leases_held(manager) == 0
        assert all(r.status == Status.ACTIVE and r.version == 2 for r in manager.store.list())
        for _, err in outputs:  # no token or secret in the logs
            assert "sandbox-secret" not in err and not any(t in err for t in tokens[:50])
    finally:
        manager.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigterm_finishes_running_refreshes_releases_the_rest_and_exits_0(
    request: pytest.FixtureRequest, tmp_path: Path, sandbox: SandboxProvider, backend: str
) -> None:
    url = f"sqlite:///{tmp_path}/fluxnex.db" if backend == "sqlite" else request.getfixturevalue("pg_schema_url")
    keys = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()
    manager = CredentialManager(database_url=url, encryption_keys=keys)
    try:
        tokens = seed_due(manager, sandbox, 8, expires_in=300)
        sandbox.configure(latency=1.0)
        env = worker_env(FLUXNEX_DATABASE_URL=url, FLUXNEX_ENCRYPTION_KEYS=keys)
        proc = start_worker(env, "--interval", "30", "--concurrency", "2")
        try:
            deadline = time.monotonic() + 30
            while sandbox.token_requests.get("refresh_token", 0) < 2 and time.monotonic() < deadline:
                assert proc.poll() is None
                time.sleep(0.02)
            assert sandbox.token_requests.get("refresh_token") == 2  # two refreshes in flight, the rest waiting
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err[-2000:]
        assert time.monotonic() - sent < 5  # the running refreshes (1 s each) finish, nothing new starts
        assert "received SIGTERM" in err

        counts = [sandbox.token_requests_for(t) for t in tokens]
        assert counts.count(1) == 2 and counts.count(0) == 6
        assert leases_held(manager) == 0
        assert still_due(manager) == 6  # released rows are due for the next worker
        assert "Cycle: claimed 4: 2 refreshed, 0 failed, 0 expired, 2 released" in out
    finally:
        manager.close()


def test_sigterm_while_idle_and_the_embedded_default_database(
    tmp_path: Path, sandbox: SandboxProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("FLUXNEX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLUXNEX_HOME", str(tmp_path / "home"))
    manager = CredentialManager()  # the embedded SQLite database and key file under FLUXNEX_HOME
    try:
        tokens = seed_due(manager, sandbox, 3, expires_in=300)
        env = worker_env(FLUXNEX_HOME=str(tmp_path / "home"))
        once = subprocess.run(
            [sys.executable, "-m", "fluxnex", "worker", "--once"], env=env, capture_output=True, text=True, timeout=60
        )
        assert once.returncode == 0, once.stderr[-2000:]
        assert once.stdout.startswith("Cycle: claimed 3: 3 refreshed, 0 failed, 0 expired in ")
        assert "outcome=ok" in once.stderr and "INFO fluxnex.worker: cycle claimed=3" in once.stderr
        assert [sandbox.token_requests_for(t) for t in tokens] == [1, 1, 1]

        proc = start_worker(env, "--interval", "60", "--json")
        try:
            first = proc.stdout.readline() if proc.stdout else ""
            assert json.loads(first)["claimed"] == 0  # first cycle done, now sleeping for a minute
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err[-2000:]
        assert time.monotonic() - sent < 3
        assert out == ""  # no further cycle ran
        assert leases_held(manager) == 0
    finally:
        manager.close()
