"""Outbox benchmark: what the event triggers add to the store's writes (insert, refresh write, failure record).

Run: ``PYTHONPATH=core/src python3 benchmarks/bench_outbox.py [--rows 2000] [--postgres URL]``.
The same database is measured with the triggers of migration 0007 and again after dropping them, so the
figures sit beside their own baseline. Not a test: it prints medians per write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _bulk import pg_database, pg_url
from fluxnex.storage.store import ConnectionRow, ConnectionStore, Status

UTC = dt.UTC
ENVELOPE = {"v": 1, "kid": "bench", "n": "A" * 16, "ct": "B" * 300}


def _row(tenant: uuid.UUID, i: int) -> ConnectionRow:
    now = dt.datetime.now(UTC)
    return ConnectionRow(
        id=uuid.uuid4(), tenant_id=tenant, type="oAuth2Api", name=f"c{i}-{uuid.uuid4().hex[:6]}", data=ENVELOPE,
        status=Status.ACTIVE, expires_at=now + dt.timedelta(hours=1), version=1, lease_owner=None, lease_until=None,
        refresh_failures=0, last_error=None, next_attempt_at=None, last_refreshed_at=None, created_at=now,
        updated_at=now,
    )  # fmt: skip


def _median_us(fn: Callable[[int], object], n: int) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure(store: ConnectionStore, rows: int) -> dict[str, float]:
    """Median microseconds of an insert, a successful refresh write and a recorded transient failure."""
    tenant = uuid.uuid4()
    inserted: list[ConnectionRow] = []
    out = {"insert (connection.created)": _median_us(lambda i: inserted.append(store.insert(_row(tenant, i))), rows)}
    now = dt.datetime.now(UTC)

    def refresh(i: int) -> None:
        r = inserted[i]
        written = store.write_refresh(r.id, r.version, data=ENVELOPE, status="ACTIVE", last_refreshed_at=now,
                                      expires_at=now + dt.timedelta(hours=1))  # fmt: skip
        assert written is not None
        inserted[i] = written

    out["refresh write (no subscriber)"] = _median_us(refresh, rows)

    def failure(i: int) -> None:
        r = inserted[i]
        assert store.write_refresh(r.id, r.version, refresh_failures=r.refresh_failures + 1,
                                   last_error="HTTP 503") is not None  # fmt: skip

    out["failure record (connection.refresh_failed)"] = _median_us(failure, rows)
    return out


def drop_triggers(store: ConnectionStore) -> None:
    on = " ON connection" if store.dialect == "postgresql" else ""
    with store.engine.begin() as conn:
        for name in ("connection_event_insert", "connection_event_delete", "connection_event_update"):
            conn.exec_driver_sql(f"DROP TRIGGER {name}{on}")


def run(url: str, rows: int, label: str) -> None:
    store = ConnectionStore(url)
    try:
        measure(store, rows // 4)  # warm-up: pool connections, plans, plpgsql compiled
        with_events = measure(store, rows)
        drop_triggers(store)
        measure(store, rows // 4)
        without = measure(store, rows)
    finally:
        store.dispose()
    print(f"{label}: {rows} writes each, median per write")
    for name, us in with_events.items():
        base = without[name]
        print(f"  {name:45s} {us:7.0f} us  (no triggers: {base:6.0f} us, x{us / base:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--postgres", default=pg_url(), help="PostgreSQL server URL (default: the tests')")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'fluxnex.db'}", args.rows, "SQLite")
    if args.postgres:
        with pg_database(args.postgres) as url:
            run(url, args.rows, "PostgreSQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
