"""``fluxnex worker``: run the refresh worker (one cycle with ``--once``, else until SIGTERM/SIGINT)."""

from __future__ import annotations

import json
import logging
import signal
from types import FrameType

import click

from fluxnex.lifecycle.refresher import DEFAULT_CONCURRENCY, CycleSummary, RefreshWorker

__all__ = ["worker_command"]

_log = logging.getLogger("fluxnex.worker")


def _setup_logging() -> None:
    """Log FluxNex's INFO lines (one per refresh, one per cycle) to stderr; other libraries at WARNING."""
    from fluxnex.cli._logging import setup_logging

    setup_logging(int(click.get_current_context().meta.get("fluxnex.verbose", 0)), fluxnex_level=logging.INFO)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one cycle (until nothing due is left) and exit.")
@click.option("--interval", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds between cycles (with +-10% jitter).")  # fmt: skip
@click.option("--horizon", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Refresh tokens expiring within this many seconds.")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(min=1), default=DEFAULT_CONCURRENCY, show_default=True,
              help="Refreshes running at once.")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True,
              help="Most connections claimed by one query.")  # fmt: skip
@click.option("--lease-seconds", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds a claim holds a row unless renewed (its owner renews it while working).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print each cycle's summary as a JSON line.")
def worker_command(
    once: bool,
    interval: float,
    horizon: float,
    concurrency: int,
    batch_size: int,
    lease_seconds: float,
    as_json: bool,
) -> None:
    """Refresh OAuth2 tokens before they expire; SIGTERM/SIGINT finish running refreshes, then exit 0."""
    from fluxnex.api.manager import CredentialManager

    _setup_logging()
    manager = CredentialManager(lease_seconds=lease_seconds)
    worker = RefreshWorker(manager, interval=interval, horizon=horizon, concurrency=concurrency, batch_size=batch_size)

    def report(summary: CycleSummary) -> None:
        click.echo(json.dumps(summary.to_json()) if as_json else f"Cycle: {summary}")

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if not worker.stopping:
            _log.info("received %s: finishing running refreshes, then exiting", signal.Signals(signum).name)
        worker.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _log.info("worker %s started on %r", worker.owner, manager)
        if once:
            report(worker.run_once())
        else:
            worker.run_forever(on_cycle=report)
        _log.info("worker %s stopped", worker.owner)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        manager.close()
