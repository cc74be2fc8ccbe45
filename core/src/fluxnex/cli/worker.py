"""``fluxnex worker``: run the refresh worker (one cycle with ``--once``, else until SIGTERM/SIGINT)."""

from __future__ import annotations

import json
import logging
import signal
from types import FrameType
from typing import TYPE_CHECKING

import click

from fluxnex.lifecycle.refresher import DEFAULT_CONCURRENCY, CycleSummary, RefreshWorker

if TYPE_CHECKING:
    from fluxnex.lifecycle.events import EventDelivery

__all__ = ["worker_command"]

_log = logging.getLogger("fluxnex.worker")


def _setup_logging(log_format: str) -> None:
    """Log FluxNex's INFO lines (one per refresh, one per cycle) to stderr; other libraries at WARNING."""
    from fluxnex.cli._logging import setup_logging

    verbose = int(click.get_current_context().meta.get("fluxnex.verbose", 0))
    setup_logging(verbose, fluxnex_level=logging.INFO, log_format=log_format)


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
@click.option("--webhooks/--no-webhooks", default=True, show_default=True,
              help="Dispatch connection events to hooks and deliver webhooks.")  # fmt: skip
@click.option("--webhook-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds one webhook request may take in all.")  # fmt: skip
@click.option("--webhook-concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Webhook requests at once (at most 2 to one endpoint).")  # fmt: skip
@click.option("--metrics-port", type=click.IntRange(min=0, max=65535), default=None,
              help="Serve Prometheus /metrics and /healthz on this port.")  # fmt: skip
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics server binds.")
@click.option("--keep-alive", "keep_alive", multiple=True, metavar="TYPE=DURATION",
              help="Refresh idle connections of TYPE this often (30d, 12h; 0: off); overrides the type's own "
                   "keep_alive and FLUXNEX_KEEP_ALIVE.")  # fmt: skip
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines as text or as one JSON object a line.")  # fmt: skip
def worker_command(
    once: bool,
    interval: float,
    horizon: float,
    concurrency: int,
    batch_size: int,
    lease_seconds: float,
    as_json: bool,
    webhooks: bool,
    webhook_timeout: float,
    webhook_concurrency: int,
    metrics_port: int | None,
    metrics_host: str,
    keep_alive: tuple[str, ...],
    log_format: str,
) -> None:
    """Refresh OAuth2 tokens before they expire; SIGTERM/SIGINT finish running refreshes, then exit 0."""
    from fluxnex.api.manager import CredentialManager
    from fluxnex.lifecycle.keep_alive import parse_overrides

    _setup_logging(log_format)
    overrides = parse_overrides(",".join(keep_alive))
    manager = CredentialManager(lease_seconds=lease_seconds)
    events: EventDelivery | bool = False
    if webhooks:
        from fluxnex.lifecycle.events import EventDelivery

        events = EventDelivery(manager, timeout=webhook_timeout, concurrency=webhook_concurrency)
    worker = RefreshWorker(manager, interval=interval, horizon=horizon, concurrency=concurrency,
                           batch_size=batch_size, events=events, keep_alive=overrides)  # fmt: skip
    metrics = None
    if metrics_port is not None:
        from fluxnex.lifecycle.observability import MetricsServer

        metrics = MetricsServer(manager, metrics_port, metrics_host, max_cycle_age=max(60.0, 3 * interval + 30))
        metrics.start()
        _log.info("metrics on http://%s:%d/metrics and /healthz", metrics_host, metrics.port)

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
            if worker.events is not None:
                worker.events.drain(deadline=webhook_timeout + 5)  # this cycle's events, delivered or scheduled
        else:
            worker.run_forever(on_cycle=report)
        _log.info("worker %s stopped", worker.owner)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        worker.close()
        if metrics is not None:
            metrics.close()
        manager.close()
