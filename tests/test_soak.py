"""Soak and faults: two long-running ``fluxnex worker`` processes beside reader processes, for a bounded time.

The sandbox provider rotates refresh tokens strictly and revokes a whole grant when a spent refresh token is
presented again, so one double refresh anywhere shows. Tokens live 30 s (a few connections never expire);
meanwhile the run injects, one after another: 5xx answers, a token endpoint slower than the lease, a database
outage shorter than the lease, ``kill -9`` of a worker while it holds leases (then a restart), 429 with
Retry-After and malformed JSON. (An outage longer than the lease makes a live owner look dead: another process
may then refresh with a refresh token the owner already spent; docs/operations.md states that window.)

Asserted at the end: no refresh token presented twice at the provider; every connection's stored refresh
token is the provider's latest; none EXPIRED; refreshes per connection within one of run time / lifetime;
every access token a reader got was accepted by the provider; server connections (PostgreSQL) within the
documented bound and worker file descriptors flat; no lease left held; no secret in the workers' logs.

``FLUXNEX_SOAK_SECONDS`` makes the run longer (default 60 s per backend); the figures are printed as one
JSON line (``pytest -s``) for the operations notes.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import generate_key_line
from fluxnex.storage.store import DEFAULT_POOL_SIZE, Status
from fluxnex.testing.sandbox import DEFAULT_CLIENT_SECRET, SandboxProvider
from soak_support import ConnectionPeak, PgDatabase, ReaderPool, WorkerProcess, open_fds, sqlite_write_outage

pytestmark = pytest.mark.slow

PG_ENV = "FLUXNEX_TEST_POSTGRES_URL"
LIFETIME = 30  # seconds every refreshed access token lives
LEASE = 10.0  # workers' and readers' lease: the latency spike below is longer, the database outage shorter
CONNECTIONS = 24
CONCURRENCY = 8  # each worker's refreshes at once
STATIC = 3  # connections whose token never expires (no expires_in): never refreshed
RUN = float(os.environ.get("FLUXNEX_SOAK_SECONDS", "60"))
TENANT = uuid.UUID("00000000-0000-4000-8000-00000000500a")


def _env(url: str, keys: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}
    env.update(FLUXNEX_DATABASE_URL=url, FLUXNEX_ENCRYPTION_KEYS=keys, FLUXNEX_HOME=str(home))
    return env


def _seed(mgr: CredentialManager, sandbox: SandboxProvider) -> dict[str, str]:
    """Create the connections (first tokens expiring at staggered times); name -> first refresh token."""
    rng = random.Random(5)
    first: dict[str, str] = {}
    for i in range(CONNECTIONS + STATIC):
        name = f"soak-{i:03d}"
        static = i >= CONNECTIONS
        tokens = sandbox.issue_tokens(expires_in=None if static else rng.randint(LIFETIME // 2, LIFETIME))
        if static:
            tokens.pop("expires_in", None)
        mgr.create_connection(TENANT, "oAuth2Api", name, {**sandbox.oauth2_data(), "oauthTokenData": tokens})
        first[name] = str(tokens["refresh_token"])
    return first


def _at(start: float, offset: float) -> None:
    pause = start + offset - time.monotonic()
    if pause > 0:
        time.sleep(pause)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_soak_two_workers_and_readers_under_faults(tmp_path: Path, backend: str) -> None:
    pg: PgDatabase | None = None
    if backend == "postgresql":
        base = os.environ.get(PG_ENV)
        if not base:
            pytest.skip(f"{PG_ENV} is not set")
        pg = PgDatabase(base)  # fails (not skips) when the server is set but unreachable
        url = pg.url
    else:
        (tmp_path / "db").mkdir()
        url = f"sqlite:///{tmp_path}/db/fluxnex.db"
    keys = generate_key_line("k1")
    sandbox = SandboxProvider(expires_in=LIFETIME, rotation="strict", reuse_detection=True, retry_after=1)
    sandbox.start()
    mgr = CredentialManager(url, keys)
    workers: list[WorkerProcess] = []
    readers: ReaderPool | None = None
    peak: ConnectionPeak | None = None
    try:
        first = _seed(mgr, sandbox)
        names = sorted(first)
        env = _env(url, keys, tmp_path / "home")
        args = ("--interval", "1", "--lease-seconds", str(LEASE), "--concurrency", str(CONCURRENCY), "--json")
        for label in "ab":
            (tmp_path / label).mkdir()
            workers.append(WorkerProcess(tmp_path / label, env, *args))
        peak = ConnectionPeak(pg) if pg is not None else None
        started = time.monotonic()
        readers = ReaderPool(
            url, keys, tenant=str(TENANT), names=names, api_url=sandbox.api_url, stop_at=time.time() + RUN,
            processes=3, threads=4, lease_seconds=LEASE,
        )  # fmt: skip
        a, b = workers

        _at(started, 5)
        fds_early = open_fds(b.pid)
        _at(started, 8)
        sandbox.fail_next("500", count=6)  # transient provider errors
        _at(started, 14)
        sandbox.configure(latency=LEASE + 3)  # every token request now outlives the lease
        time.sleep(2.5)
        sandbox.configure(latency=0.0)
        _at(started, 30)
        if pg is not None:
            with pg.outage(3.0):  # refused and dropped connections, shorter than the lease
                pass
        else:
            with sqlite_write_outage(tmp_path / "db" / "fluxnex.db", 6.0):  # writers wait on the busy timeout
                pass
        _at(started, 40)
        sandbox.configure(fail="hang", fail_count=None, hang_seconds=3.0)  # requests in flight, nothing spent
        time.sleep(1.0)
        a.kill9()  # while it may hold leases on rows it is refreshing
        time.sleep(0.5)
        sandbox.clear_failures()
        time.sleep(1.0)
        a.start()
        _at(started, 48)
        sandbox.fail_next("429", count=3)
        time.sleep(2.0)
        sandbox.fail_next("malformed", count=2)

        counts, rejected = readers.join(timeout=RUN + 120)
        elapsed = time.monotonic() - started
        fds_late = open_fds(b.pid)
        db_fds = open_fds(b.pid, str(tmp_path / "db")) if pg is None else None
        codes = [w.terminate() for w in workers]
        peak_connections = peak.stop() if peak is not None else None

        # -- the provider's view --------------------------------------------------------------------------
        rows = {r.name: r for r in mgr.store.list(TENANT)}
        stored = {name: mgr.decrypt(rows[name])["oauthTokenData"]["refresh_token"] for name in names}
        grants = {name: sandbox.refresh_grants(first[name]) for name in names}
        refreshing = names[:CONNECTIONS]
        summary: dict[str, Any] = {
            "backend": backend,
            "seconds": round(elapsed, 1),
            "token_lifetime": LIFETIME,
            "provider_token_requests": sandbox.token_requests,
            "refresh_grants": sum(grants.values()),
            "grants_per_connection": sorted(grants[n] for n in refreshing),
            "reuse_attempts": sandbox.reuse_attempts,
            "reader_calls": dict(counts),
            "peak_server_connections": peak_connections,
            "worker_fds": [fds_early, fds_late],
            "worker_database_fds": db_fds,
            "worker_exit_codes": [w.exit_codes for w in workers],
            "statuses": {s.value: sum(1 for r in rows.values() if r.status == s) for s in Status},
        }
        print("SOAK " + json.dumps(summary))

        assert sandbox.reuse_attempts == 0, summary
        assert [n for n in refreshing if rows[n].status == Status.EXPIRED] == [], summary
        assert [n for n in names if not sandbox.is_active(stored[n])] == [], summary
        bound = elapsed / LIFETIME + 1
        assert all(1 <= grants[n] <= bound for n in refreshing), (bound, summary)
        assert all(grants[n] == 0 and stored[n] == first[n] for n in names[CONNECTIONS:]), summary
        assert counts["ok"] > 500 and not any(k.startswith("api_") for k in counts), (rejected, summary)
        assert [r.name for r in rows.values() if r.lease_owner is not None] == [], summary
        assert codes == [0, 0] and workers[0].exit_codes[0] == -9, summary
        # flat, not growing: the database pool (SQLite: database, WAL and shm per connection) and the provider
        # sockets of the concurrency may fill up after the first sample, nothing beyond them
        assert fds_late - fds_early <= 3 * DEFAULT_POOL_SIZE + CONCURRENCY, summary
        assert db_fds is None or db_fds <= 3 * DEFAULT_POOL_SIZE, summary
        if peak_connections is not None:
            processes = len(workers) + 3 + 1  # two workers, three readers, this test's manager
            assert peak_connections <= processes * mgr.store.max_connections, summary
        for w in workers:
            log = w.stderr()
            assert "Traceback" not in log, log[-3000:]
            assert DEFAULT_CLIENT_SECRET not in log and not any(t in log for t in stored.values())
    finally:
        if readers is not None:
            readers.kill()
        for w in workers:
            w.cleanup()
        if peak is not None:
            peak.stop()
        mgr.close()
        sandbox.stop()
        if pg is not None:
            pg.close()
