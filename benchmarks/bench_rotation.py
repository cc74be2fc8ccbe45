"""Rotation benchmark: ``rotate_keys`` rows/s beside the in-memory decrypt+encrypt rate, and the table's size.

Run: ``python benchmarks/bench_rotation.py [--rows 20000] [--batch 500] [--rotations 3]``; PostgreSQL too when
``FLUXNEX_BENCH_POSTGRES_URL`` (or ``FLUXNEX_TEST_POSTGRES_URL``) is set (a throw-away database is created).
The ceiling is the same keyring's name-bound decrypt+encrypt of the same rows (rotation's envelope work),
one thread, no database, measured before and after each rotation (goal: rotation at 30% of it or more).
The CPU time per row of both is printed too: on a shared machine it varies less than the rates (the
database server's own work is not in it). Two more rotations take ``fluxnex keys rotate``'s path: the key ids of
every row checked in the database (``unknown_key_problem``), then rotated; and with ``--check-first``: every row
decrypted first (``check_all_readable``). Sizes: ``pg_total_relation_size('connection')`` (PostgreSQL) or
the SQLite file and its WAL, before and after each rotation (goal: under 10% growth per rotation).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from pathlib import Path

from _bulk import libpq, load, pg_database, pg_url, size_bytes
from fluxnex.storage.crypto import Keyring, RowBinding
from fluxnex.storage.key_fingerprints import check_all_readable, unknown_key_problem
from fluxnex.storage.rotation import rotate_keys
from fluxnex.storage.store import ConnectionStore


def key_line(kid: str) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


def ceiling(store: ConnectionStore, ring: Keyring, sample: int, repeat: int = 5) -> tuple[float, float]:
    """Rows/s and CPU µs/row of the envelope work alone over ``sample`` stored rows, one thread: medians of ``repeat``.

    The same work per row as rotation's: the envelope (already parsed) decrypted and encrypted again under
    the primary key with the row's name-bound associated data (``RowBinding``), through the same
    ``Keyring`` calls (``decrypt``, then ``encrypt_json``: the new envelope as the text rotation writes);
    no database, no JSON parsing.
    """
    rows = store.data_after(None, sample)
    rates, cpu = [], []
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.thread_time()
        for row in rows:
            binding = RowBinding(row.tenant_id, row.id, row.type, row.name)
            ring.encrypt_json(ring.decrypt(row.data, binding, what=""), binding)
        rates.append(len(rows) / (time.perf_counter() - start))
        cpu.append((time.thread_time() - cpu_start) / len(rows) * 1e6)
    return statistics.median(rates), statistics.median(cpu)


def current_xid(url: str) -> int | None:
    """A fresh transaction id (PostgreSQL), to tell afterwards whether an older transaction stayed open."""
    if url.startswith("sqlite"):
        return None
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        return int(row[0]) if row else None


def held_back(url: str, started: int | None) -> bool:
    """Whether a transaction older than ``started`` is still open on the server (it stops page pruning)."""
    if started is None:
        return False
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()
        return bool(row and int(row[0]) <= started)


def cli_path(
    store: ConnectionStore, ring: Keyring, rows: int, batch: int, label: str, *, check_first: bool = False
) -> None:
    """One more rotation the way ``fluxnex keys rotate`` runs it: its checks before anything is rewritten, then
    ``rotate_keys``; rows/s beside the in-memory rate measured before and after it."""
    top_before = ceiling(store, ring, min(rows, 5000))[0]
    start = time.perf_counter()
    if check_first:
        assert not list(check_all_readable(store, ring, batch_size=batch))
    assert unknown_key_problem(store, ring) is None
    assert rotate_keys(store, ring, batch_size=batch).rotated == rows
    rate = rows / (time.perf_counter() - start)
    top = statistics.median([top_before, ceiling(store, ring, min(rows, 5000))[0]])
    print(f"  {label}: {rate:9,.0f} rows/s   {rate / top:5.1%} of the in-memory rate")


def measure(url: str, backend: str, rows: int, batch: int, rotations: int) -> None:
    kids = [f"k{i}" for i in range(rotations + 3)]
    lines = {kid: key_line(kid) for kid in kids}
    store = ConnectionStore(url)
    try:
        load(url, rows, 0.0, Keyring.parse(lines[kids[0]]))
        print(f"{backend}, {rows:,} rows, batch {batch}:")
        ratios = []
        for step in range(1, rotations + 1):
            ring = Keyring.parse(",".join(lines[k] for k in reversed(kids[: step + 1])))
            before = size_bytes(url)
            started = current_xid(url)
            top_before, cpu_before = ceiling(store, ring, min(rows, 5000))
            start, cpu_start = time.perf_counter(), time.process_time()
            result = rotate_keys(store, ring, batch_size=batch)
            rate = rows / (time.perf_counter() - start)
            cpu = (time.process_time() - cpu_start) / rows * 1e6  # every thread of this process
            top_after, cpu_after = ceiling(store, ring, min(rows, 5000))
            top, top_cpu = statistics.median([top_before, top_after]), statistics.median([cpu_before, cpu_after])
            ratios.append(rate / top)
            after = size_bytes(url)
            held = " (pruning held back: a transaction open elsewhere on the server)" if held_back(url, started) else ""
            assert result.rotated == rows, result
            print(
                f"  rotation {step}: {rate:9,.0f} rows/s   in-memory decrypt+encrypt: {top:9,.0f} rows/s   "
                f"{rate / top:5.1%} of it (goal >= 30%)"
            )
            print(f"              CPU of this process {cpu:5.1f} us/row   envelope work alone {top_cpu:5.1f} us/row")
            print(
                f"              size {before / 2**20:8.2f} MiB -> {after / 2**20:8.2f} MiB   "
                f"growth {after / before - 1:+6.1%} (goal < 10%){held}"
            )
        print(f"  median share of the in-memory rate over {rotations} rotations: {statistics.median(ratios):.1%}")
        ring = Keyring.parse(",".join(lines[k] for k in reversed(kids[:-1])))
        cli_path(store, ring, rows, batch, "fluxnex keys rotate's path (key ids checked, then rotation)")
        ring = Keyring.parse(",".join(lines[k] for k in reversed(kids)))
        cli_path(store, ring, rows, batch, "with --check-first (every row decrypted, then rotation)", check_first=True)
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows to rotate (e.g. 1000000)")
    parser.add_argument("--batch", type=int, default=500, help="rotate_keys batch size (fluxnex keys rotate's default)")
    parser.add_argument("--rotations", type=int, default=3, help="rotations in a row (k0 -> k1 -> k2 ...)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure(f"sqlite:///{Path(tmp) / 'rotate.db'}", "sqlite", args.rows, args.batch, args.rotations)
    base = pg_url()
    if base:
        with pg_database(base) as url:
            measure(url, "postgresql", args.rows, args.batch, args.rotations)
    else:
        print("postgresql: skipped (set FLUXNEX_BENCH_POSTGRES_URL)")


if __name__ == "__main__":
    main()
