"""Status benchmark: the counts behind ``fluxnex status`` at 10k and at a large table, and what keeping them costs.

Run: ``python benchmarks/bench_status.py [--small 10000] [--large 100000] [--threads 8] [--inserts 400]``
(the issue's figure: ``--large 1000000``); PostgreSQL too when ``FLUXNEX_BENCH_POSTGRES_URL`` (or
``FLUXNEX_TEST_POSTGRES_URL``) is set (a throw-away database per table).
Prints the median ``count_by_status`` and in-process ``fluxnex status --json`` times at both sizes and their
ratio (goal: within 2x), beside the pre-0003 ``GROUP BY`` count over the table on the same data. Then, on
PostgreSQL, concurrent single-row inserts (``--threads`` writers, each its own autocommit connection, like
``create_connection`` in many processes) with the count triggers as shipped (16 shards), with every writer on
one counter row, and with the triggers disabled: the cost of exact counts and of a hot row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _bulk import PLACEHOLDER, libpq, load, pg_database, pg_url
from _timing import median_us
from fluxnex.storage.store import ConnectionStore


def legacy_counts(store: ConnectionStore) -> object:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT status, count(*) FROM connection GROUP BY status").all()


def cli_status(url: str) -> Callable[[], object]:
    """``fluxnex status --json`` in this process (click's runner), so interpreter start-up is not timed."""
    from click.testing import CliRunner
    from fluxnex.cli import cli

    runner = CliRunner()
    env = {"FLUXNEX_DATABASE_URL": url, "FLUXNEX_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "="}

    def run() -> object:
        result = runner.invoke(cli, ["status", "--json"], env=env)
        assert result.exit_code == 0, result.output
        return result

    return run


def measure(url: str, rows: int) -> tuple[float, float, float]:
    """Load ``rows`` rows; return median microseconds of count_by_status, the pre-0003 count, and the CLI."""
    store = ConnectionStore(url)
    try:
        load(url, rows, 0.01)
        assert sum(store.count_by_status().values()) == rows
        ours = median_us(store.count_by_status, n=20, rounds=7, warmup=5)
        old = median_us(lambda: legacy_counts(store), n=3, rounds=5, warmup=1)
        cli = median_us(cli_status(url), n=3, rounds=5, warmup=1)
        return ours, old, cli
    finally:
        store.dispose()


def report(backend: str, small: int, large: int, a: tuple[float, float, float], b: tuple[float, float, float]) -> None:
    print(f"{backend}: median time                 {small:>11,} rows  {large:>11,} rows   large/small")
    for i, label in enumerate(["count_by_status (0003 counts)", "pre-0003 GROUP BY count", "fluxnex status --json"]):
        print(f"  {label:30} {a[i] / 1000:10.2f} ms {b[i] / 1000:10.2f} ms   {b[i] / a[i]:8.1f}x")
    print(f"  goal: count_by_status and status within 2x across sizes: {b[0] / a[0]:.2f}x and {b[2] / a[2]:.2f}x")


def insert_rate(url: str, threads: int, per_thread: int) -> float:
    """Rows/s of ``threads`` writers each inserting ``per_thread`` rows, one autocommit INSERT per row."""
    import psycopg
    from psycopg.types.json import Jsonb

    conns = [psycopg.connect(libpq(url), autocommit=True) for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    sql = (
        "INSERT INTO connection (id, tenant_id, type, name, data, status, version, refresh_failures, created_at,"
        " updated_at) VALUES (%s, %s, 'oAuth2Api', %s, %s, 'ACTIVE', 1, 0, now(), now())"
    )

    def writer(conn: psycopg.Connection[object]) -> None:
        tenant = uuid.uuid4()
        barrier.wait()
        for i in range(per_thread):
            conn.execute(sql, (uuid.uuid4(), tenant, f"w{i}", Jsonb(PLACEHOLDER)))

    workers = [threading.Thread(target=writer, args=(c,)) for c in conns]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return threads * per_thread / elapsed


def contention(url: str, threads: int, per_thread: int, rounds: int = 5) -> None:
    import psycopg

    store = ConnectionStore(url)  # migrated: triggers in place
    store.dispose()
    with psycopg.connect(libpq(url), autocommit=True) as admin:
        (function,) = admin.execute("SELECT pg_get_functiondef('connection_count_row'::regproc)").fetchone() or ("",)
        one_shard = function.replace("pg_backend_pid() % 16", "0")
        assert one_shard != function, "the count trigger no longer shards by pg_backend_pid() % 16"
        modes = {
            "count triggers, 16 shards (shipped)": [function, "ALTER TABLE connection ENABLE TRIGGER USER"],
            "count triggers, 1 shard (hot row)": [one_shard, "ALTER TABLE connection ENABLE TRIGGER USER"],
            "no count triggers (pre-0003)": [function, "ALTER TABLE connection DISABLE TRIGGER USER"],
        }
        rates: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(rounds):  # interleaved, so load from elsewhere on the machine favours no mode
            for mode, statements in modes.items():
                for statement in statements:
                    admin.execute(statement)
                rates[mode].append(insert_rate(url, threads, per_thread))
        admin.execute(function)
        admin.execute("ALTER TABLE connection ENABLE TRIGGER USER")
        real = admin.execute("SELECT count(*) FROM connection WHERE status = 'ACTIVE'").fetchone()
    base = statistics.median(rates["no count triggers (pre-0003)"])
    print(f"postgresql: {threads} concurrent writers, single-row autocommit inserts (median of {rounds}):")
    for mode, values in rates.items():
        rate = statistics.median(values)
        print(f"  {mode:38} {rate:9,.0f} rows/s   {rate / base:5.2f}x of no triggers")
    print(f"  (counts are exact only with the triggers on; {real[0] if real else 0:,} ACTIVE rows written)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000, help="the issue's figure: 1000000")
    parser.add_argument("--threads", type=int, default=8, help="concurrent writers for the contention figure")
    parser.add_argument("--inserts", type=int, default=400, help="rows per writer for the contention figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = measure(f"sqlite:///{Path(tmp) / 'small.db'}", args.small)
        large = measure(f"sqlite:///{Path(tmp) / 'large.db'}", args.large)
    report("sqlite", args.small, args.large, small, large)
    base = pg_url()
    if not base:
        print("postgresql: skipped (set FLUXNEX_BENCH_POSTGRES_URL)")
        return
    with pg_database(base) as url:
        small = measure(url, args.small)
    with pg_database(base) as url:
        large = measure(url, args.large)
    report("postgresql", args.small, args.large, small, large)
    with pg_database(base) as url:
        contention(url, args.threads, args.inserts)


if __name__ == "__main__":
    os.environ.pop("FLUXNEX_DATABASE_URL", None)
    main()
