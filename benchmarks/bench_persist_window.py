"""The one window in which a refreshed token can still be lost: SIGKILL between the provider's answer and the write.

Run: ``python3 benchmarks/bench_persist_window.py [--refreshes 200] [--postgres URL]``.
Figures: for each refresh, the time from the refresh hook returning the provider's answer to the compare-and-set
write of the new token returning (the result is checked, encrypted and written in between), as median and p99,
printed beside the provider round trip of the same refreshes (the hook's own duration, sandbox on 127.0.0.1).
A process killed with SIGKILL inside that window loses the new token (the provider has spent the old refresh
token); outside it, the token is in the database or, when the database refused it, in a recovery file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fluxnex.lifecycle.refresh as refresh_module
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import generate_key_line
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import oauth_data


def measure(url: str, refreshes: int) -> tuple[list[float], list[float]]:
    answered: dict[uuid.UUID, float] = {}
    hook_ms: list[float] = []
    window_ms: list[float] = []
    original_hook = refresh_module.call_refresh_hook

    def timed_hook(registry: Any, ct: Any, data: Any, http: Any) -> Any:
        started = time.perf_counter()
        out = original_hook(registry, ct, data, http)
        now = time.perf_counter()
        hook_ms.append((now - started) * 1000)
        answered[uuid.UUID(int=0)] = now
        return out

    refresh_module.call_refresh_hook = timed_hook  # type: ignore[assignment]
    try:
        with SandboxProvider() as sandbox:
            mgr = CredentialManager(url, generate_key_line("bench"))
            writer = mgr.refresher.writer
            original_write = writer.write

            def timed_write(result: Any) -> str:
                outcome = original_write(result)
                window_ms.append((time.perf_counter() - answered[uuid.UUID(int=0)]) * 1000)
                return outcome

            writer.write = timed_write  # type: ignore[method-assign]
            tenant = uuid.uuid4()
            mgr.create_connection(tenant, "oAuth2Api", "c", oauth_data(sandbox, expires_in=5))
            for _ in range(refreshes + 20):
                mgr.refresh_connection(tenant, "c")
            mgr.close()
    finally:
        refresh_module.call_refresh_hook = original_hook
    return hook_ms[20:], window_ms[20:]


def report(label: str, hook_ms: list[float], window_ms: list[float]) -> None:
    def p99(values: list[float]) -> float:
        return sorted(values)[max(0, int(len(values) * 0.99) - 1)]

    print(
        f"{label:10} window median {statistics.median(window_ms):6.2f} ms  p99 {p99(window_ms):6.2f} ms   "
        f"provider round trip median {statistics.median(hook_ms):6.2f} ms  p99 {p99(hook_ms):6.2f} ms   "
        f"ratio {statistics.median(window_ms) / statistics.median(hook_ms):4.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refreshes", type=int, default=200)
    parser.add_argument("--postgres", default=os.environ.get("FLUXNEX_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report("sqlite", *measure(f"sqlite:///{tmp}/window.db", args.refreshes))
    if args.postgres:
        from bench_get_connection import pg_schema

        url, drop = pg_schema(args.postgres)
        try:
            report("postgresql", *measure(url, args.refreshes))
        finally:
            drop()
    else:
        print("postgresql skipped: set FLUXNEX_TEST_POSTGRES_URL or pass --postgres URL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
