"""The values a connection command is given: ``--data`` (a file or stdin) and prompts for what is missing."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from fluxnex.contract.errors import FluxnexError

__all__ = ["prompt_missing", "read_data"]


def read_data(source: str | None) -> dict[str, Any]:
    """The JSON object in ``--data`` (a file, or ``-`` for stdin); ``{}`` without one."""
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()  # noqa: SIM115
    except UnicodeDecodeError as exc:
        raise FluxnexError(f"--data {source}: not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FluxnexError(f"--data {source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise FluxnexError(f"--data {source}: expected a JSON object")
    return data


def prompt_missing(type_name: str, data: dict[str, Any], *, only_required: bool | None = None) -> dict[str, Any]:
    """Prompt for the properties shown under displayOptions that ``data`` lacks (hidden input for secrets).

    On a terminal every such property is asked, its default offered; otherwise (piped input, scripts) only the
    required and secret ones without a default are.
    """
    if only_required is None:
        only_required = not sys.stdin.isatty()
    from fluxnex.contract.plugins import get_registry
    from fluxnex.n8n.validation import is_required, visible_properties

    ct = get_registry().get(type_name)
    asked: set[str] = set()
    while True:  # a choice can show further properties (displayOptions), so look again after each answer
        pending = [
            p for p in visible_properties(ct, data)
            if p.name not in data and p.name not in asked and p.type != "hidden"
            and (not only_required or _asked_without_terminal(p, {**ct.defaults(), **data}))
        ]
        if not pending:
            return data
        prop = pending[0]
        asked.add(prop.name)
        default = prop.default_value
        label = prop.display_name + (" (required)" if is_required(prop, {**ct.defaults(), **data}) else "")
        if prop.type == "boolean":
            data[prop.name] = click.confirm(label, default=bool(default))
        elif prop.option_values is not None and prop.type == "options":
            choice = click.Choice([str(v) for v in prop.option_values])
            answer = click.prompt(label, type=choice, default=str(default) if default != "" else None)
            data[prop.name] = next(v for v in prop.option_values if str(v) == answer)
        elif prop.type == "number":
            data[prop.name] = click.prompt(label, type=float, default=default if default != "" else None)
            if float(data[prop.name]).is_integer():
                data[prop.name] = int(data[prop.name])
        else:
            secret = prop.is_secret
            value = click.prompt(label, default="" if secret else (default or ""), hide_input=secret,
                                 show_default=not secret)
            if value != "" or is_required(prop, {**ct.defaults(), **data}):
                data[prop.name] = value


def _asked_without_terminal(prop: Any, values: dict[str, Any]) -> bool:
    """Without a terminal only what is required (a secret too, unless an OPTIONAL_WHEN rule exempts it)."""
    from fluxnex.n8n.validation import is_required

    if prop.default_value not in ("", None):
        return False
    required = is_required(prop, values)
    exempt = bool(prop.required) and not required
    return required or (prop.is_secret and not exempt)
