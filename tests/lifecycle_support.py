"""Shared fixtures and helpers for the CredentialManager and refresh-protocol tests.

Import with ``from lifecycle_support import *`` to get the fixtures (``db_url`` on SQLite and PostgreSQL,
``keys``, ``sandbox``, ``make_manager``), plus helpers: ``oauth_data``, ``StormPool`` (worker processes,
each with persistent threads, that call ``get_connection`` at one agreed instant) and ``hold_lease_and_hang``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import SandboxProvider
from store_fixtures import PG_ENV, pg_conninfo, pg_schema_url

__all__ = [
    "PG_ENV",
    "StormPool",
    "db_url",
    "keys",
    "make_manager",
    "new_pg_schema",
    "oauth_data",
    "pg_conninfo",
    "pg_schema_url",
    "sandbox",
]

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a SQLite file in tmp_path, or a fresh PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir(exist_ok=True)
        return f"sqlite:///{tmp_path}/db/fluxnex.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def keys() -> str:
    """A one-key keyring spec."""
    return generate_key_line("k1")


@pytest.fixture
def sandbox() -> Iterator[SandboxProvider]:
    """A running sandbox OAuth2 provider."""
    with SandboxProvider() as provider:
        yield provider


@pytest.fixture
def make_manager(db_url: str, keys: str) -> Iterator[Callable[..., CredentialManager]]:
    """A factory of managers on ``db_url`` (all closed afterwards); keyword arguments go to the manager."""
    made: list[CredentialManager] = []

    def make(**kwargs: Any) -> CredentialManager:
        mgr = CredentialManager(kwargs.pop("url", db_url), kwargs.pop("keys", keys), **kwargs)
        made.append(mgr)
        return mgr

    yield make
    for mgr in made:
        mgr.close()


def oauth_data(
    sandbox: SandboxProvider, expires_in: int = 3600, *, lifetime: int = 3600, **overrides: Any
) -> dict[str, Any]:
    """oAuth2Api data pointing at the sandbox with a token pair expiring in ``expires_in`` seconds.

    The token is one of ``lifetime`` seconds issued ``lifetime - expires_in`` seconds ago, so a short
    ``expires_in`` is due on demand (``fluxnex.tokens``: due below min(leeway, 20% of its lifetime)).
    """
    tokens = sandbox.issue_tokens(expires_in=expires_in)
    if expires_in < lifetime:
        tokens = {**tokens, "expires_in": lifetime, "expires_at": time.time() + expires_in}
    return {**sandbox.oauth2_data(**overrides), "oauthTokenData": tokens}


def new_pg_schema() -> tuple[str, Callable[[], None]]:
    """A fresh PostgreSQL schema URL and its dropper (for module-scoped fixtures); skips if no server set."""
    from sqlalchemy.engine import make_url

    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    import psycopg

    schema = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(pg_conninfo(base), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(pg_conninfo(base), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), drop


# -- worker processes ------------------------------------------------------------------------------------


def _storm_process(url: str, keys: str, lease_seconds: float, threads: int, commands: Any, results: Any) -> None:
    """A worker process: one manager, ``threads`` persistent threads, one ``get_connection`` each per round."""
    mgr = CredentialManager(url, keys, lease_seconds=lease_seconds)
    work: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(threads)]
    done: queue.SimpleQueue[tuple[int, tuple[str, str, float]]] = queue.SimpleQueue()

    def run(i: int) -> None:
        while True:
            job = work[i].get()
            if job is None:
                return
            tenant, name, go_at = job
            pause = go_at - time.time()
            if pause > 0:
                time.sleep(pause)
            started = time.perf_counter()
            try:
                data = mgr.get_connection(tenant, name)
                outcome = ("ok", str(data["oauthTokenData"]["access_token"]), time.perf_counter() - started)
            except Exception as exc:
                outcome = ("error", f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
            done.put((i, outcome))

    pool = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    results.put(("ready", os.getpid(), None))
    while True:
        command = commands.get()
        if command is None:
            break
        for q in work:
            q.put(command)
        outcomes: list[Any] = [None] * threads
        for _ in range(threads):
            i, outcome = done.get()
            outcomes[i] = outcome
        results.put(("done", os.getpid(), outcomes))
    for q in work:
        q.put(None)
    mgr.close()


class StormPool:
    """``processes`` worker processes of ``threads`` threads each, reused across rounds."""

    def __init__(self, url: str, keys: str, *, processes: int = 4, threads: int = 16, lease_seconds: float = 30.0):
        self.threads = threads
        self._results: Any = SPAWN.Queue()
        self._commands = [SPAWN.Queue() for _ in range(processes)]
        self._procs = [
            SPAWN.Process(
                target=_storm_process, args=(url, keys, lease_seconds, threads, q, self._results), daemon=True
            )
            for q in self._commands
        ]
        for p in self._procs:
            p.start()
        for _ in self._procs:
            kind, _pid, _ = self._results.get(timeout=120)
            assert kind == "ready"

    def warm(self, connections: list[tuple[uuid.UUID, str]], *, lead: float = 0.3) -> None:
        """Each process refreshes its own connection once (first-use costs: imports, compiled SQL, sockets)."""
        assert len(connections) == len(self._commands)
        go_at = time.time() + lead
        for q, (tenant, name) in zip(self._commands, connections, strict=True):
            q.put((str(tenant), name, go_at))
        for _ in self._procs:
            kind, _pid, _ = self._results.get(timeout=120)
            assert kind == "done"

    def round(self, tenant: uuid.UUID, name: str, *, lead: float = 0.3) -> list[tuple[str, str, float]]:
        """Every thread of every process calls ``get_connection(tenant, name)`` at the same instant."""
        go_at = time.time() + lead
        for q in self._commands:
            q.put((str(tenant), name, go_at))
        outcomes: list[tuple[str, str, float]] = []
        for _ in self._procs:
            kind, _pid, batch = self._results.get(timeout=120)
            assert kind == "done"
            outcomes.extend(batch)
        return outcomes

    def close(self) -> None:
        """Stop the workers."""
        for q in self._commands:
            q.put(None)
        for p in self._procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def _refresh_process(url: str, keys: str, lease_seconds: float, tenant: str, name: str, results: Any) -> None:
    """Call ``get_connection`` once and report ("ok", access token) or ("error", message)."""
    mgr = CredentialManager(url, keys, lease_seconds=lease_seconds)
    try:
        results.put(("ok", mgr.get_connection(tenant, name)["oauthTokenData"]["access_token"]))
    except Exception as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        mgr.close()


def start_refresher(url: str, keys: str, lease_seconds: float, tenant: uuid.UUID, name: str) -> tuple[Any, Any]:
    """Start a process that calls ``get_connection`` once; (the process, a queue with its one outcome)."""
    results: Any = SPAWN.Queue()
    proc = SPAWN.Process(
        target=_refresh_process, args=(url, keys, lease_seconds, str(tenant), name, results), daemon=True
    )
    proc.start()
    return proc, results


def _hang_process(url: str, keys: str, lease_seconds: float, tenant: str, name: str) -> None:
    """Call ``get_connection`` (expected to hang at the provider until this process is killed)."""
    mgr = CredentialManager(url, keys, lease_seconds=lease_seconds, http_timeout=600)
    mgr.get_connection(tenant, name)


def start_hanging_refresher(url: str, keys: str, lease_seconds: float, tenant: uuid.UUID, name: str) -> Any:
    """Start a process whose refresh hangs at the provider; the caller kills it."""
    proc = SPAWN.Process(target=_hang_process, args=(url, keys, lease_seconds, str(tenant), name), daemon=True)
    proc.start()
    return proc


# -- a small credential type for validation tests ----------------------------------------------------------

SMALL_TYPE = "lifecycleTestApi"


def small_type_registry() -> Any:
    """The process registry with ``lifecycleTestApi`` (apiKey, region, port, verbose, extra json) added."""
    from fluxnex.contract.plugins import PluginInfo, get_registry

    registry = get_registry()
    if SMALL_TYPE not in registry:
        registry.add(
            [
                {
                    "name": SMALL_TYPE,
                    "displayName": "Lifecycle test API",
                    "properties": [
                        {"displayName": "API Key", "name": "apiKey", "type": "string",
                         "typeOptions": {"password": True}, "default": "", "required": True},
                        {"displayName": "Region", "name": "region", "type": "options", "default": "eu",
                         "options": [{"name": "EU", "value": "eu"}, {"name": "US", "value": "us"}]},
                        {"displayName": "Port", "name": "port", "type": "number", "default": 443},
                        {"displayName": "Verbose", "name": "verbose", "type": "boolean", "default": False},
                        {"displayName": "Extra", "name": "extra", "type": "json", "default": ""},
                    ],
                }
            ],
            PluginInfo("lifecycle-tests", "lifecycle-tests", "0"),
        )  # fmt: skip
    return registry


def _update_process(url: str, keys: str, tenant: str, name: str, writer: int, count: int, results: Any) -> None:
    """Run ``count`` data updates of one connection; report (successes, conflicts)."""
    from fluxnex.contract.errors import ConcurrentUpdateError

    mgr = CredentialManager(url, keys)
    ok = conflicts = 0
    for i in range(count):
        try:
            mgr.update_connection(tenant, name, data={"name": "X-Key", "value": f"w{writer}-{i}"})
            ok += 1
        except ConcurrentUpdateError:
            conflicts += 1
    mgr.close()
    results.put((ok, conflicts))


def run_update_processes(url: str, keys: str, tenant: uuid.UUID, name: str, writers: int, count: int) -> list[Any]:
    """Run ``writers`` processes of ``_update_process`` at once; their (successes, conflicts)."""
    results: Any = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_update_process, args=(url, keys, str(tenant), name, w, count, results))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return out


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    """Poll ``condition`` every 20 ms until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")
