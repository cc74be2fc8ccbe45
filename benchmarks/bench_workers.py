"""Worker scale-out benchmark on PostgreSQL: 1, 2 and 4 ``fluxnex worker --once`` processes over N due tokens.

Run: ``python benchmarks/bench_workers.py [--rows 1000] [--processes 1,2,4] [--concurrency 32] [--latency 0.1]``
(the issue's figures: ``--rows 1000,10000 --concurrency 8,32``); needs ``FLUXNEX_BENCH_POSTGRES_URL`` (or
``FLUXNEX_TEST_POSTGRES_URL``): each run gets a throw-away database. The sandbox provider answers every token
request after ``--latency`` seconds, over kept-alive HTTP/1.1 connections as real token endpoints answer
(``--no-provider-keep-alive``: HTTP/1.0, a connection per request). For each run it prints refreshes/s (from the
release of the workers, which wait at their first claim until all have started, to the last cycle's end: no
worker's interpreter start-up overlaps another's refreshing), the speed-up over one process measured in the
same run (goal: 1.8x or more from 1 to 2), the exactly-once check at the provider (every connection's refresh token
presented exactly once, grants == connections) and the peak of server connections to the database (pg_stat_activity
polled every 20 ms). Exits non-zero if a token was refreshed other than exactly once.

Beside each run of more than one worker it prints the speed-up the machine's cores allow: the cores there are
over the cores the one-worker run kept busy while refreshing (workers, PostgreSQL, the sandbox provider: all on
this machine), at most the number of workers. It is an estimate that takes the CPU of a refresh to stay the
same; part of the one-worker run's load does not grow with more workers (the poller, the server's background
work), so several workers can pass it. Where one worker is CPU-bound (concurrency 32 on two cores) no second worker can
double; where it is bound by concurrency over the provider's latency (concurrency 8) the ceiling is the count of
workers, and the speed-up shows whether anything shared (claims, leases, the database) serialises them.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from _bulk import libpq, pg_database, pg_url
from fluxnex.api.manager import CredentialManager, with_token_expiry
from fluxnex.lifecycle.refresher import DEFAULT_CONCURRENCY
from fluxnex.n8n.validation import validate
from fluxnex.storage.crypto import Keyring
from fluxnex.testing.sandbox import SandboxProvider
from sqlalchemy.engine import make_url

UTC = dt.UTC
_BENCH = "fluxnex-bench"  # the application_name of this script's own connections, left out of the peak
LIFETIME = 3600  # each token was issued for an hour and has 30 s left: due under any horizon or lifetime rule


def seed(url: str, keys: str, sandbox: SandboxProvider, rows: int) -> list[str]:
    """COPY ``rows`` connections whose tokens are almost spent (encrypted as the manager does); their refresh tokens."""
    import psycopg
    from psycopg.types.json import Jsonb

    manager = CredentialManager(database_url=url, encryption_keys=keys)  # migrates the fresh database
    ct = manager.credential_type("oAuth2Api")
    tenant, base, tokens = uuid.uuid4(), sandbox.oauth2_data(), []
    now = dt.datetime.now(UTC)
    expires = now + dt.timedelta(seconds=30)
    refreshed = expires - dt.timedelta(seconds=LIFETIME)
    cols = ("id, tenant_id, type, name, data, status, expires_at, version, refresh_failures, last_refreshed_at,"
            " created_at, updated_at, refresh_at")  # fmt: skip
    try:
        with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY connection ({cols}) FROM STDIN") as copy:
                for i in range(rows):
                    issued = sandbox.issue_tokens(expires_in=LIFETIME)
                    token = {**issued, "expires_at": expires.timestamp()}
                    clean = with_token_expiry(validate(ct, {**base, "oauthTokenData": token}))
                    cid, name = uuid.uuid4(), f"conn-{i}"
                    envelope = manager.encrypt(tenant, cid, ct.name, clean, name=name)
                    due_at = manager.token_columns(ct, clean)["refresh_at"]
                    copy.write_row((cid, tenant, ct.name, name, Jsonb(envelope), "ACTIVE", expires, 1, 0,
                                    refreshed, now, now, due_at))  # fmt: skip
                    tokens.append(issued["refresh_token"])
            conn.commit()
    finally:
        manager.close()
    return tokens


class PeakConnections:
    """Polls pg_stat_activity for the benchmark database's server connections (its own left out), and the
    machine's CPU counters with the wall-clock time of each poll (``busy_between``)."""

    def __init__(self, url: str) -> None:
        self.url, self.peak, self._stop = url, 0, threading.Event()
        self.cpu: list[tuple[float, tuple[float, float, float]]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(libpq(self.url), autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> %s",
                    (_BENCH,),
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)
                self.cpu.append((time.time(), machine_busy()))
                self._stop.wait(0.02)

    def busy_between(self, start: float, end: float) -> tuple[float, float]:
        """(busy, stolen) cores of the machine between two wall-clock times (the polls nearest inside them)."""
        inside = [c for t, c in self.cpu if start <= t <= end] or [c for _, c in self.cpu[-2:]]
        first, last = inside[0], inside[-1]
        total = max(last[1] - first[1], 1.0)
        cores = os.cpu_count() or 1
        return (last[0] - first[0]) / total * cores, (last[2] - first[2]) / total * cores

    def __enter__(self) -> PeakConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU jiffies of the whole machine since boot, from /proc/stat (Linux); ``stolen``
    is the time the hypervisor gave this VM's cores to others (counted in neither busy nor idle here)."""
    with open("/proc/stat") as f:
        values = [float(v) for v in f.readline().split()[1:]]
    idle, steal = values[3] + values[4], values[7] if len(values) > 7 else 0.0
    return sum(values) - idle - steal, sum(values), steal


def run_workers(
    url: str, keys: str, processes: int, concurrency: int
) -> tuple[float, float, list[dict[str, Any]], float]:
    """Start ``processes`` workers, let them refresh together; return (refresh span seconds, wall seconds, their
    cycle summaries, the wall-clock time they were let go).

    Each worker's interpreter start-up (about 1.5 s of CPU) would otherwise overlap the others' refreshing and
    charge the runs of several workers for it: the table is locked until every worker waits on it at its first
    claim, so the span runs from the release to the last cycle's end.
    """
    import psycopg

    env = {**os.environ, "FLUXNEX_DATABASE_URL": url, "FLUXNEX_ENCRYPTION_KEYS": keys}
    cmd = [sys.executable, "-m", "fluxnex", "worker", "--once", "--json", "--concurrency", str(concurrency)]
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        # Files, not pipes: a worker logs a line per refresh, and a full pipe nobody reads yet would stall it.
        outs = [(Path(tmp) / f"{i}.out", Path(tmp) / f"{i}.err") for i in range(processes)]
        start = time.perf_counter()
        procs = []
        with psycopg.connect(libpq(url), application_name=_BENCH) as gate:
            gate.execute("LOCK TABLE connection IN ACCESS EXCLUSIVE MODE")
            for out, err in outs:
                with out.open("w") as stdout, err.open("w") as stderr:
                    procs.append(subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr))
            _await_blocked(url, procs, outs)
            released = time.time()
            gate.commit()
        for p, (out, err) in zip(procs, outs, strict=True):
            if p.wait(timeout=900) != 0:
                raise SystemExit(f"worker exited {p.returncode}: {err.read_text().strip()[-2000:]}")
        wall = time.perf_counter() - start
        summaries = [json.loads(out.read_text().strip().splitlines()[-1]) for out, _ in outs]
    starts = [dt.datetime.fromisoformat(s["started_at"]).timestamp() for s in summaries]
    ends = [b + s["duration"] for b, s in zip(starts, summaries, strict=True)]
    return max(ends) - released, wall, summaries, released


def _await_blocked(url: str, procs: list[subprocess.Popen[bytes]], outs: list[tuple[Path, Path]]) -> None:
    """Wait until every worker's first claim waits on the table lock (a worker that exits first is an error)."""
    import psycopg

    deadline = time.monotonic() + 300
    with psycopg.connect(libpq(url), autocommit=True, application_name=_BENCH) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                               " AND wait_event_type = 'Lock'").fetchone()  # fmt: skip
            if row is not None and int(row[0]) >= len(procs):
                return
            for p, (_, err) in zip(procs, outs, strict=True):
                if p.poll() is not None:
                    raise SystemExit(f"worker exited {p.returncode} before claiming: {err.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise SystemExit("workers did not reach their first claim within 300 s")
            time.sleep(0.02)


def measure(
    base: str, rows: int, processes: int, concurrency: int, latency: float, sync: str, keep_alive: bool
) -> dict[str, Any]:
    import psycopg

    keys = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()
    Keyring.parse(keys)
    provider = SandboxProvider(expires_in=LIFETIME, latency=latency, keep_alive=keep_alive)
    with pg_database(base) as url, provider as sandbox:
        if sync != "on":
            with psycopg.connect(libpq(url), autocommit=True) as conn:
                conn.execute(f"ALTER DATABASE {make_url(url).database} SET synchronous_commit = {sync}")
        tokens = seed(url, keys, sandbox, rows)
        sandbox.reset_counters()
        children, own = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
        with PeakConnections(url) as peak:
            span, wall, summaries, first_start = run_workers(url, keys, processes, concurrency)
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu = (after_children.ru_utime + after_children.ru_stime) - (children.ru_utime + children.ru_stime)
        sandbox_cpu = time.process_time() - own  # this process: the sandbox provider (and the poller)
        # the machine while the workers refreshed: their start-up and exit left out
        machine, stolen = peak.busy_between(first_start, first_start + span)
        grants = sum(sandbox.token_requests.values())
        once = all(sandbox.token_requests_for(t) == 1 for t in tokens) and grants == rows
        refreshed = sum(int(s["refreshed"]) for s in summaries)
        return {"rate": refreshed / span, "span": span, "wall": wall, "once": once, "grants": grants,
                "refreshed": refreshed, "peak": peak.peak, "worker_ms": workers_cpu / rows * 1000,
                "sandbox_ms": sandbox_cpu / rows * 1000, "cores": machine, "stolen": stolen}  # fmt: skip


def free_connections(base: str) -> int:
    """Server connections still free: max_connections less the reserved ones and those open now."""
    import psycopg

    with psycopg.connect(libpq(base), autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()
        return int(row[0]) if row else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000", help="comma-separated due connections per run (e.g. 1000,10000)")
    parser.add_argument("--processes", default="1,2,4", help="comma-separated worker process counts")
    parser.add_argument("--concurrency", default=str(DEFAULT_CONCURRENCY),
                        help="comma-separated --concurrency of each worker, a table for each (e.g. 8,32)")
    parser.add_argument("--latency", type=float, default=0.1, help="sandbox seconds per token request")
    parser.add_argument("--synchronous-commit", default="on", choices=["on", "off"],
                        help="the benchmark database's synchronous_commit: off shows whether WAL flushes bound it")
    parser.add_argument("--provider-keep-alive", action=argparse.BooleanOptionalAction, default=True,
                        help="the sandbox keeps connections alive (HTTP/1.1) as real token endpoints do; "
                             "--no-provider-keep-alive: a new TCP connection (and sandbox thread) per request")
    args = parser.parse_args()
    base = pg_url()
    if not base:
        print("bench_workers: skipped (set FLUXNEX_BENCH_POSTGRES_URL to a PostgreSQL server)")
        return 0
    ok = True
    for rows, concurrency in [(int(r), int(c)) for c in args.concurrency.split(",") for r in args.rows.split(",")]:
        ok = table(base, rows, concurrency, args) and ok
    return 0 if ok else 1


def table(base: str, rows: int, concurrency: int, args: argparse.Namespace) -> bool:
    """1, 2, 4 ... workers over ``rows`` due tokens at ``concurrency``; False if one run was not exactly once."""
    print(f"{rows:,} due connections, {args.latency * 1000:.0f} ms provider latency, concurrency "
          f"{concurrency} per worker; ideal one worker: {concurrency / args.latency:,.0f} refreshes/s")
    ok, cores = True, os.cpu_count() or 1
    first: float | None = None
    busy_one = 0.0  # cores the one-worker run kept busy
    per_worker = 0  # server connections one worker was seen to hold (peak of the runs so far / processes)
    for n in [int(p) for p in args.processes.split(",")]:
        free = free_connections(base)
        if per_worker * n > free:
            print(f"  {n} worker(s): not run: they would need about {per_worker * n} server connections "
                  f"({per_worker} each, as measured), the server has {free} free; try --concurrency "
                  f"{max(1, concurrency * free // (per_worker * n) - 2)}")  # fmt: skip
            continue
        r = measure(base, rows, n, concurrency, args.latency, args.synchronous_commit, args.provider_keep_alive)
        per_worker = max(per_worker, -(-r["peak"] // n))
        if first is None:
            first, busy_one = r["rate"], r["cores"]
        ok = ok and r["once"]
        ceiling = f"; the cores allow ~{min(n, cores / max(busy_one, 1e-9)):4.2f}x" if n > 1 and busy_one else ""
        print(f"  {n} worker(s): {r['rate']:7,.0f} refreshes/s  ({r['rate'] / first:4.2f}x of 1{ceiling})  "
              f"span {r['span']:6.2f}s  wall {r['wall']:6.2f}s  grants {r['grants']:,}/{rows:,}  "
              f"exactly once: {r['once']}  peak server connections: {r['peak']}")  # fmt: skip
        print(f"      CPU per refresh: workers {r['worker_ms']:.2f} ms, sandbox provider {r['sandbox_ms']:.2f} ms; "
              f"machine busy {r['cores']:.1f} of {cores} cores while refreshing, "
              f"{r['stolen']:.1f} stolen by the hypervisor")  # fmt: skip
    return ok


if __name__ == "__main__":
    sys.exit(main())
