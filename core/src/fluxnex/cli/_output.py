"""Output helpers shared by the CLI commands: JSON or aligned tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta["fluxnex.json"] = value  # shared with the root group, which prints errors as JSON then
    return value


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, callback=_remember_json, help="Print JSON (errors too) instead of text."
)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON."""
    click.echo(json.dumps(value, indent=2, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows under headers, columns aligned; an empty table prints a note."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        click.echo(click.style(line, bold=True) if index == 0 else line)
