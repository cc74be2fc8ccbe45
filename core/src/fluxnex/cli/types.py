"""``fluxnex types list|show`` and ``fluxnex plugins``."""

from __future__ import annotations

from typing import Any

import click

from fluxnex.cli._output import JSON_OPTION, echo_json, echo_table
from fluxnex.contract.plugins import get_registry


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
                "provided_by": [p.label for p in registry.providers(name)],
                "extends": definition.extends or [],
            }
        )
    if as_json:
        echo_json(rows)
    else:
        echo_table(
            ["NAME", "DISPLAY NAME", "PROVIDED BY"],
            [[r["name"], r["display_name"], " and ".join(r["provided_by"])] for r in rows],
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
                "provided_by": [p.label for p in registry.providers(name)],
                "extends": ct.extends or [],
                "ancestors": registry.ancestors(name),
                "properties": props,
                "authenticate": ct.authenticate,
                "test": ct.test,
            }
        )
        return
    providers = registry.providers(name)
    shared = f" (identical definitions; {provider.label}'s is used)" if len(providers) > 1 else ""
    click.echo(f"{ct.display_name} ({ct.name}) from {' and '.join(p.label for p in providers)}{shared}")
    if ct.extends:
        click.echo(f"extends: {', '.join(ct.extends)}")
    echo_table(
        ["PROPERTY", "TYPE", "REQUIRED", "SECRET", "DEFAULT"],
        [
            [
                p["name"],
                p["type"],
                _required_text(ct.properties[i]) if p["required"] else "",
                "secret" if p["secret"] else "",
                _short(p["default"]),
            ]
            for i, p in _numbered(ct, props)
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
            "types": [n for n in registry.names() if p in registry.providers(n)],
        }
        for p in registry.plugins
    ]
    failed = [{"name": f.name, "distribution": f.distribution, "error": f.error} for f in registry.failures]
    conflicts = {name: [p.label for p in providers] for name, providers in sorted(registry.conflicts.items())}
    shadowed = [str(note) for note in registry.shadowed]
    shared = {name: [p.label for p in providers] for name, providers in sorted(registry.shared.items())}
    if as_json:
        echo_json({"loaded": loaded, "failed": failed, "conflicts": conflicts, "shared": shared,
                   "shadowed": shadowed})
        return
    echo_table(
        ["PLUGIN", "DISTRIBUTION", "VERSION", "TYPES"],
        [[p["name"], p["distribution"], p["version"], len(p["types"])] for p in loaded],
    )
    for failure in failed:
        click.echo(f"FAILED {failure['name']} ({failure['distribution']}): {failure['error']}")
    for name, labels in conflicts.items():
        click.echo(f"CONFLICT {name}: registered by {' and '.join(labels)}")
    for name, labels in shared.items():
        click.echo(f"SHARED {name}: identical definitions from {' and '.join(labels)}; {labels[0]}'s is used, "
                   "and the hooks of every one of them answer (the last loaded is asked first)")
    for note in shadowed:
        click.echo(f"SHADOWED {note}")


def _numbered(ct: Any, props: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Pair each shown row with its property's index in ``ct.properties`` (notices are not shown)."""
    indexes = [i for i, p in enumerate(ct.properties) if p.type != "notice"]
    return list(zip(indexes, props, strict=True))


def _required_text(prop: Any) -> str:
    """"yes", or when it is required: n8n's displayOptions conditions, and FluxNex's OPTIONAL_WHEN exemptions."""
    import json

    from fluxnex.n8n.validation import OPTIONAL_WHEN

    def values(raw: Any) -> str:
        items = raw if isinstance(raw, list) else [raw]
        return " or ".join(v if isinstance(v, str) else json.dumps(v, default=str) for v in items)

    options = prop.display_options or {}
    parts = [f"{field} is {values(v)}" for field, v in (options.get("show") or {}).items()]
    parts += [f"{field} is not {values(v)}" for field, v in (options.get("hide") or {}).items()]
    text = "when " + " and ".join(parts) if parts else "yes"
    exemption = OPTIONAL_WHEN.get(prop.name)
    if exemption is not None:
        text += f", unless {exemption[0]} is {' or '.join(sorted(exemption[1]))}"
    return text


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
