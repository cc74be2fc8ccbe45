"""Claim benchmark: ``ConnectionStore.claim_due`` over a large table with few (0.1%) and many (12.5%) due rows.

Run: ``python benchmarks/bench_claim.py [--rows 1000000] [--batch 100] [--repeat 15]``; PostgreSQL too when
``FLUXNEX_BENCH_POSTGRES_URL`` (or ``FLUXNEX_TEST_POSTGRES_URL``) is set (a throw-away database is created).
Prints the median claim time of one worker batch at each due fraction, their ratio (goal: within 2x: the claim
does not grow with the backlog), and beside it the same claim done the pre-0003 way (statuses bound as
parameters, every due row read and sorted, the update re-checking the predicate) on the same table.
Each claimed batch is released (untimed) before the next, so every repeat sees the same table.
On PostgreSQL the planner proves the partial index's predicate for the pre-0003 query too (its bound statuses
are known when it plans), so there that column shows the old query on the new index; the old figure is the
same script run on a checkout before 0003.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from _bulk import load, pg_database, pg_url
from fluxnex.storage.store import ConnectionStore, connection_table

T = connection_table
UTC = dt.UTC


def legacy_claim(store: ConnectionStore, now: dt.datetime, limit: int) -> list[object]:
    """The claim as it was before migration 0003: bound statuses, ORDER BY over all due rows, re-checked update."""
    due = sa.and_(
        T.c.status.in_(["ACTIVE", "ERROR"]),
        T.c.expires_at.is_not(None),
        T.c.expires_at <= now,
        sa.or_(T.c.lease_owner.is_(None), T.c.lease_until.is_(None), T.c.lease_until < now),
        sa.or_(T.c.next_attempt_at.is_(None), T.c.next_attempt_at <= now),
    )
    pick = sa.select(T.c.id).where(due).order_by(T.c.expires_at).limit(limit)
    if store.dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    values = {"lease_owner": "legacy", "lease_until": now + dt.timedelta(seconds=60)}
    with store._write() as conn:
        ids = list(conn.execute(pick).scalars())
        rows = conn.execute(T.update().where(T.c.id.in_(ids), due).values(**values).returning(*T.c)).mappings().all()
    return [r["id"] for r in rows]


def release(store: ConnectionStore, ids: list[object]) -> None:
    """Untimed: drop the leases just taken, so the next repeat sees the same table."""
    with store.engine.begin() as conn:
        conn.execute(T.update().where(T.c.id.in_(ids)).values(lease_owner=None, lease_until=None))


def medians_ms(
    store: ConnectionStore, claims: list[Callable[[], list[object]]], repeat: int, batch: int
) -> list[float]:
    """Median time of each claim function, run alternately (so cache and WAL state favour neither)."""
    times: list[list[float]] = [[] for _ in claims]
    for _ in range(repeat + 2):
        for fn, out in zip(claims, times, strict=True):
            start = time.perf_counter()
            got = fn()
            out.append((time.perf_counter() - start) * 1000)
            assert len(got) == batch, f"claimed {len(got)} of {batch}: too few due rows for the benchmark"
            release(store, got)
    return [statistics.median(t[2:]) for t in times]


def measure(url: str, rows: int, due: float, batch: int, repeat: int) -> tuple[float, float]:
    """Load ``rows`` rows with a ``due`` fraction due; return (median claim ms, median legacy claim ms)."""
    store = ConnectionStore(url)
    try:
        load(url, rows, due)
        now = dt.datetime.now(UTC)

        def ours() -> list[object]:
            return [r.id for r in store.claim_due(horizon_until=now, owner="b", lease_seconds=60, limit=batch, now=now)]

        new, old = medians_ms(store, [ours, lambda: legacy_claim(store, now, batch)], repeat, batch)
        return new, old
    finally:
        store.dispose()


def report(backend: str, rows: int, results: dict[float, tuple[float, float]]) -> None:
    (few_ours, few_old), (many_ours, many_old) = results[0.001], results[0.125]
    print(f"{backend}, {rows:,} rows, median claim of one batch:")
    print(f"  0.1% due:  {few_ours:8.2f} ms   pre-0003 claim: {few_old:8.2f} ms")
    print(f"  12.5% due: {many_ours:8.2f} ms   pre-0003 claim: {many_old:8.2f} ms")
    print(f"  12.5% / 0.1%: {many_ours / few_ours:.2f}x (goal <= 2x)   pre-0003: {many_old / few_old:.2f}x   "
          f"speed-up at 12.5%: {many_old / many_ours:.1f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="table size (the issue's figure: 1000000)")
    parser.add_argument("--batch", type=int, default=100, help="rows per claim (the worker's batch size)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    fractions = (0.001, 0.125)
    results: dict[float, tuple[float, float]] = {}
    for due in fractions:
        with tempfile.TemporaryDirectory() as tmp:
            results[due] = measure(f"sqlite:///{Path(tmp) / 'claim.db'}", args.rows, due, args.batch, args.repeat)
    report("sqlite", args.rows, results)
    base = pg_url()
    if base:
        for due in fractions:
            with pg_database(base) as url:
                results[due] = measure(url, args.rows, due, args.batch, args.repeat)
        report("postgresql", args.rows, results)
    else:
        print("postgresql: skipped (set FLUXNEX_BENCH_POSTGRES_URL)")


if __name__ == "__main__":
    main()
