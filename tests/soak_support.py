"""Processes and probes for the soak suite (``test_soak.py``): readers, workers, faults, server connections.

Reader processes are spawned (``multiprocessing``, so they share nothing with the test process); workers are
real ``fluxnex worker`` command processes with their output in files (a pipe nobody reads would block them).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "SPAWN",
    "ConnectionPeak",
    "PgDatabase",
    "ReaderPool",
    "WorkerProcess",
    "open_fds",
    "sqlite_write_outage",
]

SPAWN = multiprocessing.get_context("spawn")


# -- readers ---------------------------------------------------------------------------------------------


def _reader_process(
    url: str, keys: str, lease_seconds: float, threads: int, tenant: str, names: list[str], api_url: str,
    stop_at: float, results: Any,
) -> None:  # fmt: skip
    """``threads`` threads calling ``get_connection`` on random connections and using the token, until ``stop_at``."""
    import requests
    from fluxnex.api.manager import CredentialManager

    mgr = CredentialManager(url, keys, lease_seconds=lease_seconds)
    lock = threading.Lock()
    counts: Counter[str] = Counter()
    rejected: list[str] = []

    def run(seed: int) -> None:
        rng = random.Random(seed)
        http = requests.Session()
        while time.time() < stop_at:
            name = rng.choice(names)
            try:
                data = mgr.get_connection(tenant, name)
            except Exception as exc:
                with lock:
                    counts[f"error:{type(exc).__name__}"] += 1
                time.sleep(0.05)
                continue
            token = data.get("oauthTokenData", {}).get("access_token")
            outcome = "ok"
            if token is not None:  # connections without an OAuth2 token are read only
                status = http.get(api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
                if status != 200:
                    outcome = f"api_{status}"
                    with lock:
                        rejected.append(f"{name}: {status}")
            with lock:
                counts[outcome] += 1
            time.sleep(rng.uniform(0.005, 0.02))
        http.close()

    workers = [threading.Thread(target=run, args=(os.getpid() * 100 + i,), daemon=True) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    mgr.close()
    results.put((os.getpid(), dict(counts), rejected[:20]))


class ReaderPool:
    """``processes`` reader processes of ``threads`` threads each, running until ``stop_at`` (epoch seconds)."""

    def __init__(
        self, url: str, keys: str, *, tenant: str, names: list[str], api_url: str, stop_at: float,
        processes: int = 3, threads: int = 4, lease_seconds: float = 5.0,
    ) -> None:  # fmt: skip
        self._results: Any = SPAWN.Queue()
        self._procs = [
            SPAWN.Process(
                target=_reader_process,
                args=(url, keys, lease_seconds, threads, tenant, names, api_url, stop_at, self._results),
                daemon=True,
            )
            for _ in range(processes)
        ]
        for p in self._procs:
            p.start()

    def join(self, timeout: float) -> tuple[Counter[str], list[str]]:
        """Wait for every reader; their outcome counts added up, and some rejected calls."""
        total: Counter[str] = Counter()
        rejected: list[str] = []
        for _ in self._procs:
            _pid, counts, bad = self._results.get(timeout=timeout)
            total.update(counts)
            rejected.extend(bad)
        for p in self._procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
        return total, rejected

    def kill(self) -> None:
        """Stop every reader now (cleanup after a failure)."""
        for p in self._procs:
            if p.is_alive():
                p.kill()


# -- workers ---------------------------------------------------------------------------------------------


class WorkerProcess:
    """A ``fluxnex worker`` process with stdout and stderr in files under ``folder``."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str) -> None:
        self.folder = folder
        self.env = env
        self.args = args
        self.generation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []
        self.start()

    def start(self) -> None:
        """Start (again): a new process, its output in new files."""
        self.generation += 1
        out = (self.folder / f"out.{self.generation}").open("wb")
        err = (self.folder / f"err.{self.generation}").open("wb")
        with out, err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fluxnex", "worker", *self.args], env=self.env, stdout=out, stderr=err
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        """SIGKILL: no cleanup, leases stay held until they lapse."""
        assert self.proc is not None
        self.proc.kill()
        self.exit_codes.append(self.proc.wait(timeout=30))

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait: the exit code."""
        assert self.proc is not None
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=30)
        self.exit_codes.append(code)
        return code

    def stderr(self) -> str:
        """Every generation's stderr, concatenated."""
        return "".join((self.folder / f"err.{g}").read_text(errors="replace") for g in range(1, self.generation + 1))

    def stdout(self) -> str:
        """Every generation's stdout, concatenated."""
        return "".join((self.folder / f"out.{g}").read_text(errors="replace") for g in range(1, self.generation + 1))

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def open_fds(pid: int, under: str | None = None) -> int:
    """How many file descriptors process ``pid`` has open (Linux /proc); only those on files below ``under``."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        count += under is None or target.startswith(under)
    return count


# -- databases ---------------------------------------------------------------------------------------------


class PgDatabase:
    """A fresh PostgreSQL database of its own (dropped on close), so outages and connection counts are its own."""

    def __init__(self, base_url: str) -> None:
        import uuid

        import psycopg
        from sqlalchemy.engine import make_url

        self.base = make_url(base_url)
        self.name = f"soak_{uuid.uuid4().hex[:12]}"
        self._admin_info = self.base.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(self._admin_info, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = self.base.set(database=self.name).render_as_string(hide_password=False)

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self._admin_info, autocommit=True)

    def server_connections(self, conn: Any) -> int:
        """Client connections to this database right now."""
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.name,)).fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def outage(self, seconds: float) -> Iterator[None]:
        """The database refuses new connections and drops every open one for ``seconds``."""
        with self.admin() as admin:
            admin.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
            try:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))
                time.sleep(seconds)
                yield
            finally:
                admin.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')

    def close(self) -> None:
        with self.admin() as admin:
            admin.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


@contextlib.contextmanager
def sqlite_write_outage(path: Path, seconds: float) -> Iterator[None]:
    """Hold SQLite's write lock for ``seconds`` (longer than the busy timeout: writers fail, readers go on)."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        yield
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        conn.close()


class ConnectionPeak:
    """Samples a PostgreSQL database's server connections every 50 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-connection-peak", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.db.admin() as conn:
            while not self._stop.is_set():
                self.peak = max(self.peak, self.db.server_connections(conn))
                self.samples += 1
                self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.peak
