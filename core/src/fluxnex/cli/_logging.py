"""The CLI's logging: quiet unless asked (``-v`` INFO, ``-vv`` DEBUG), so an error is the only line on stderr.

Without ``-v`` only one kind of record is shown: a WARNING of the ``fluxnex`` logger itself (the notice that a
new encryption key was generated for the embedded database and must be backed up). ``fluxnex worker`` logs its
INFO lines (one per refresh, one per cycle) at every verbosity.
"""

from __future__ import annotations

import logging

import click

__all__ = ["setup_logging"]


class _ClickHandler(logging.Handler):
    """Write records with ``click.echo(err=True)``: the current stderr, also under click's test runner."""

    fluxnex_cli = True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def _only_notices(record: logging.LogRecord) -> bool:
    return record.name == "fluxnex" and record.levelno >= logging.WARNING


def setup_logging(verbosity: int, *, fluxnex_level: int | None = None, log_format: str = "text") -> None:
    """Install the CLI's one handler on the root logger (replacing an earlier one); idempotent.

    ``log_format="json"``: one JSON object a line (``_json_logs``).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "fluxnex_cli", False)]:
        root.removeHandler(old)
    handler = _ClickHandler()
    fluxnex = logging.getLogger("fluxnex")
    if verbosity <= 0 and fluxnex_level is None:
        handler.setFormatter(logging.Formatter("fluxnex: %(message)s"))
        handler.addFilter(_only_notices)
        fluxnex.setLevel(logging.WARNING)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        level = logging.DEBUG if verbosity >= 2 else logging.INFO
        fluxnex.setLevel(min(level, fluxnex_level or level))
        root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    if log_format == "json":
        from fluxnex.cli._json_logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
