"""Refresh worker benchmark: N due connections on SQLite, a sandbox provider answering in 100 ms, one worker process.

Run: ``PYTHONPATH=core/src python3 benchmarks/bench_worker.py [--rows 1000] [--latency 0.1] [--concurrency 32]``.
Prints the time one ``fluxnex worker --once`` process takes to refresh every due token, the sequential baseline
(rows x latency), and a measured ``--concurrency 1`` run on a small sample, extrapolated. Not a test: it prints
figures and exits non-zero only if a token was not refreshed exactly once.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle.refresher import DEFAULT_CONCURRENCY
from fluxnex.testing.sandbox import SandboxProvider


def seed(url: str, keys: str, sandbox: SandboxProvider, rows: int) -> list[str]:
    """Create ``rows`` connections whose tokens expire in 2 minutes; return their refresh tokens."""
    manager = CredentialManager(database_url=url, encryption_keys=keys)
    tenant, base, tokens = uuid.uuid4(), sandbox.oauth2_data(), []
    for i in range(rows):
        # a one-hour token with 120 s left: due (less than the horizon and 20% of its lifetime left)
        issued = {**sandbox.issue_tokens(expires_in=120), "expires_in": 3600, "expires_at": time.time() + 120}
        manager.create_connection(tenant, "oAuth2Api", f"conn-{i}", {**base, "oauthTokenData": issued})
        tokens.append(issued["refresh_token"])
    manager.close()
    return tokens


def run_worker(url: str, keys: str, concurrency: int) -> tuple[float, dict[str, float]]:
    """Run one ``fluxnex worker --once --json`` process; return its wall time and its cycle summary."""
    env = {**os.environ, "FLUXNEX_DATABASE_URL": url, "FLUXNEX_ENCRYPTION_KEYS": keys}
    cmd = [sys.executable, "-m", "fluxnex", "worker", "--once", "--json", "--concurrency", str(concurrency)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=True)
    wall = time.perf_counter() - start
    summary: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, summary


def measure(rows: int, latency: float, concurrency: int, keys: str) -> tuple[float, dict[str, float], bool]:
    """Seed a fresh SQLite database, run one worker over it; return wall time, summary, exactly-once check."""
    with tempfile.TemporaryDirectory() as tmp, SandboxProvider(expires_in=3600, latency=latency) as sandbox:
        url = f"sqlite:///{Path(tmp) / 'fluxnex.db'}"
        tokens = seed(url, keys, sandbox, rows)
        wall, summary = run_worker(url, keys, concurrency)
        once = all(sandbox.token_requests_for(t) == 1 for t in tokens) and summary["refreshed"] == rows
    return wall, summary, once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="sandbox seconds per token request")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--sample", type=int, default=20, help="connections for the --concurrency 1 run")
    args = parser.parse_args()
    keys = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()

    wall, summary, once = measure(args.rows, args.latency, args.concurrency, keys)
    _, s_summary, s_once = measure(args.sample, args.latency, 1, keys)
    per_row = s_summary["duration"] / args.sample
    print(f"rows={args.rows} latency={args.latency * 1000:.0f}ms concurrency={args.concurrency}")
    print(f"  worker cycle:          {summary['duration']:.2f}s  ({args.rows / summary['duration']:.0f} refreshes/s)")
    print(f"  worker process (wall): {wall:.2f}s  (includes interpreter start and imports)")
    print(f"  sequential baseline:   {args.rows * args.latency:.1f}s  (rows x latency)")
    print(
        f"  concurrency=1 sample:  {args.sample} rows in {s_summary['duration']:.2f}s = {per_row * 1000:.0f}ms/row"
        f" -> {per_row * args.rows:.1f}s extrapolated to {args.rows} rows"
    )
    print(f"  speed-up vs measured concurrency=1: {per_row * args.rows / summary['duration']:.1f}x")
    print(f"  every token refreshed exactly once: {once and s_once}")
    return 0 if once and s_once else 1


if __name__ == "__main__":
    sys.exit(main())
