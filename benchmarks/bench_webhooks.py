"""Webhook benchmark: refresh worker throughput with webhooks on (one slow receiver) against webhooks off, same run.

Run: ``PYTHONPATH=core/src python3 benchmarks/bench_webhooks.py [--rows 500] [--latency 0.1] [--slow 0.5]``.
Each round seeds a fresh SQLite database with ``rows`` due connections (sandbox provider answering in ``latency``
seconds) and runs one worker cycle; "on" rounds add an endpoint subscribed to ``connection.refreshed`` (so every
refresh writes an event and queues a delivery) on a receiver answering in ``slow`` seconds, with the event
delivery running on its own threads as under ``fluxnex worker``; a third mode subscribes to the default events
only (a refresh then writes none). The order of the modes rotates from round to round; figures are medians.
Not a test: it prints figures and exits non-zero only if a token was not refreshed exactly once.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle.events import EventDelivery, Webhooks
from fluxnex.lifecycle.refresher import RefreshWorker
from fluxnex.storage.store._webhooks import WebhookStore
from fluxnex.testing.sandbox import SandboxProvider
from fluxnex.testing.webhook_receiver import WebhookReceiver


def seed(manager: CredentialManager, sandbox: SandboxProvider, rows: int) -> list[str]:
    """``rows`` connections whose one-hour tokens have 120 s left (due); their refresh tokens."""
    tenant, base, tokens = uuid.uuid4(), sandbox.oauth2_data(), []
    for i in range(rows):
        issued = {**sandbox.issue_tokens(expires_in=120), "expires_in": 3600, "expires_at": time.time() + 120}
        manager.create_connection(tenant, "oAuth2Api", f"conn-{i}", {**base, "oauthTokenData": issued})
        tokens.append(issued["refresh_token"])
    return tokens


def one_round(rows: int, latency: float, slow: float, webhooks: str, keys: str) -> tuple[float, int, bool]:
    """(refresh cycle seconds, deliveries answered during the cycle, every token refreshed exactly once)."""
    with tempfile.TemporaryDirectory() as tmp, SandboxProvider(expires_in=3600, latency=latency) as sandbox, \
            WebhookReceiver(delay=slow) as receiver:  # fmt: skip
        manager = CredentialManager(database_url=f"sqlite:///{Path(tmp) / 'fluxnex.db'}", encryption_keys=keys)
        try:
            tokens = seed(manager, sandbox, rows)
            delivery: EventDelivery | bool = False
            if webhooks:
                Webhooks(manager).add(receiver.url, ["refreshed", "expired"] if webhooks == "refreshed" else [])
                delivery = EventDelivery(manager)
                delivery.dispatch()  # the seeding's connection.created events: not sent (not subscribed)
                delivery.start()
            worker = RefreshWorker(manager, events=delivery)
            try:
                summary = worker.run_once()
                answered = len(receiver.requests)
            finally:
                worker.close()  # stops the delivery threads (in-flight requests finish)
            if webhooks == "refreshed":  # an event per refresh (dispatched, or left for the next worker)
                events = WebhookStore(manager.store.engine).list(limit=rows + 1, types=["connection.refreshed"])
                assert len(events) == rows, f"expected an event per refresh, got {len(events)}"
            once = all(sandbox.token_requests_for(t) == 1 for t in tokens) and summary.refreshed == rows
        finally:
            manager.close()
    return summary.duration, answered, once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.1, help="sandbox seconds per token request")
    parser.add_argument("--slow", type=float, default=0.5, help="receiver seconds per webhook request")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each mode (order rotating)")
    args = parser.parse_args()
    keys = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()
    modes = {"off": "webhooks off (baseline)", "default": "on, default events (no connection.refreshed)",
             "refreshed": "on, subscribed to connection.refreshed (a delivery per refresh)"}  # fmt: skip
    cycles: dict[str, list[float]] = {mode: [] for mode in modes}
    answered: list[int] = []
    ok = True
    order = list(modes)
    for index in range(args.rounds):
        for mode in order[index % 3:] + order[: index % 3]:  # rotate the order: no mode always runs first
            seconds, n, once = one_round(args.rows, args.latency, args.slow, "" if mode == "off" else mode, keys)
            cycles[mode].append(seconds)
            ok &= once
            if mode == "refreshed":
                answered.append(n)
    print(f"rows={args.rows} provider latency={args.latency * 1000:.0f}ms receiver latency={args.slow * 1000:.0f}ms "
          f"rounds={args.rounds}")  # fmt: skip
    base = statistics.median(cycles["off"])
    for mode, label in modes.items():
        m = statistics.median(cycles[mode])
        ratio = "" if mode == "off" else f"  throughput vs off: {base / m:.2f}"
        print(f"  {label}: median cycle {m:.2f}s = {args.rows / m:.0f} refreshes/s{ratio}  "
              f"{[round(x, 2) for x in cycles[mode]]}")  # fmt: skip
    print("  goal: throughput with webhooks on >= 0.90 of off")
    print(f"  webhooks answered during a cycle (subscribed to refreshed): median {statistics.median(answered):.0f} "
          f"of {args.rows} queued (the slow receiver takes 2 at a time: {2 / args.slow:.0f}/s)")  # fmt: skip
    print(f"  every token refreshed exactly once: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
