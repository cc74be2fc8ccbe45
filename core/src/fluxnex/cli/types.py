"""``fluxnex types list|show`` and ``fluxnex plugins``."""

from __future__ import annotations

from typing import Any

import click

from ..plugins import get_registry
from ._output import JSON_OPTION, echo_json, echo_table


@click.group("types")
def types_group() -> None:
    """List and show credential types."""


@types_group.command("list")
@JSON_OPTION
def list_types(as_json: bool) -> None:
    """List every credential type with the distribution that provides it."""
    registry = get_registry()
    rows = []
    for name in registry.names():
        definition = registry.definition(name)
        provider = registry.provider(name)
        rows.append(
            {
                "name": name,
                "display_name": definition.display_name,
                "distribution": provider.distribution,
                "version": provider.version,
                "extends": definition.extends or [],
            }
        )
    if as_json:
        echo_json(rows)
    else:
        echo_table(
            ["NAME", "DISPLAY NAME", "PROVIDED BY"],
            [[r["name"], r["display_name"], f"{r['distribution']} {r['version']}"] for r in rows],
        )


@types_group.command("show")
@click.argument("name")
@JSON_OPTION
def show_type(name: str, as_json: bool) -> None:
    """Show a type's properties after extends, with secrets and conditions (displayOptions) marked."""
    registry = get_registry()
    ct = registry.get(name)
    provider = registry.provider(name)
    props: list[dict[str, Any]] = [
        {
            "name": p.name,
            "display_name": p.display_name,
            "type": p.type,
            "required": bool(p.required),
            "secret": p.is_secret,
            "default": p.default_value,
            "display_options": p.display_options,
        }
        for p in ct.properties
        if p.type != "notice"
    ]
    if as_json:
        echo_json(
            {
                "name": ct.name,
                "display_name": ct.display_name,
                "distribution": provider.distribution,
                "version": provider.version,
                "extends": ct.extends or [],
                "ancestors": registry.ancestors(name),
                "properties": props,
                "authenticate": ct.authenticate,
                "test": ct.test,
            }
        )
        return
    click.echo(f"{ct.display_name} ({ct.name}) from {provider.label}")
    if ct.extends:
        click.echo(f"extends: {', '.join(ct.extends)}")
    echo_table(
        ["PROPERTY", "TYPE", "REQUIRED", "SECRET", "DEFAULT"],
        [
            [
                p["name"],
                p["type"],
                "yes" if p["required"] else "",
                "secret" if p["secret"] else "",
                _short(p["default"]),
            ]
            for p in props
        ],
    )


@click.command("plugins")
@JSON_OPTION
def plugins_command(as_json: bool) -> None:
    """Show loaded plugins and the ones that failed, with reasons."""
    registry = get_registry()
    loaded = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "types": [n for n in registry.names() if registry.provider(n) == p],
        }
        for p in registry.plugins
    ]
    failed = [{"name": f.name, "distribution": f.distribution, "error": f.error} for f in registry.failures]
    conflicts = {name: [p.label for p in providers] for name, providers in sorted(registry.conflicts.items())}
    shadowed = [str(note) for note in registry.shadowed]
    if as_json:
        echo_json({"loaded": loaded, "failed": failed, "conflicts": conflicts, "shadowed": shadowed})
        return
    echo_table(
        ["PLUGIN", "DISTRIBUTION", "VERSION", "TYPES"],
        [[p["name"], p["distribution"], p["version"], len(p["types"])] for p in loaded],
    )
    for failure in failed:
        click.echo(f"FAILED {failure['name']} ({failure['distribution']}): {failure['error']}")
    for name, labels in conflicts.items():
        click.echo(f"CONFLICT {name}: registered by {' and '.join(labels)}")
    for note in shadowed:
        click.echo(f"SHADOWED {note}")


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
