"""``fluxnex n8n install|list|remove``: n8n community packages (npm ``n8n-nodes-*``) as credential catalogs."""

from __future__ import annotations

from typing import Any

import click

from fluxnex.cli._output import JSON_OPTION, echo_json, echo_table


@click.group("n8n")
def n8n_group() -> None:
    """Install, list and remove n8n community packages' credential types."""


def _kind(name: str, package: Any) -> str:
    """How n8n authenticates the type: code, pre-authentication, OAuth2/OAuth1, declarative, or none."""
    from fluxnex.contract.plugins import get_registry

    if name in package.pre_authentication:
        return "pre-authentication"
    if name in package.code_authenticate:
        return "code"
    registry = get_registry()
    if name in registry:
        for base, label in (("oAuth2Api", "OAuth2"), ("oAuth1Api", "OAuth1")):
            if registry.is_a(name, base):
                return label
    definition: dict[str, Any] = next((c for c in package.credentials if c.get("name") == name), {})
    return "declarative" if (definition.get("authenticate") or {}).get("type") == "generic" else "none"


def _types(package: Any) -> list[dict[str, str]]:
    return [{"name": name, "authenticate": _kind(name, package)} for name in package.type_names]


@n8n_group.command("install")
@click.argument("package")
@JSON_OPTION
def install_command(package: str, as_json: bool) -> None:
    """Fetch PACKAGE (NAME[@VERSION], or a local package directory or .tgz) from npm and store its credential types.

    The credential classes are loaded once, now, with node (npm and node are needed for this command only);
    every FluxNex process then registers the stored types with the package as their provider. Installing
    again replaces the stored version.
    """
    from fluxnex.api.n8n_packages import install_package

    result = install_package(package)
    types = _types(result.package)
    if as_json:
        echo_json({"package": result.package.name, "version": result.package.version, "path": str(result.path),
                   "replaced": result.replaced, "types": types, "shadowed": result.shadowed,
                   "conflicts": result.conflicts})
        return
    was = f" (replacing {result.replaced})" if result.replaced else ""
    click.echo(f"installed {result.package.name} {result.package.version}{was}: {len(types)} credential types")
    echo_table(["TYPE", "AUTHENTICATE"], [[t["name"], t["authenticate"]] for t in types])
    for note in result.shadowed:
        click.echo(f"SHADOWED {note}: the n8n catalog's definition is not used")
    for note in result.conflicts:
        click.echo(f"CONFLICT {note} also registers it: neither is usable until one is removed")


@n8n_group.command("list")
@JSON_OPTION
def list_command(as_json: bool) -> None:
    """List installed community packages and their credential types."""
    from fluxnex.n8n.packages import read_packages

    packages = read_packages()
    if as_json:
        echo_json([{"package": p.name, "version": p.version, "installed_at": p.installed_at, "types": _types(p)}
                   for p in packages])
        return
    echo_table(["PACKAGE", "VERSION", "TYPE", "AUTHENTICATE"],
               [[p.name, p.version, t["name"], t["authenticate"]] for p in packages for t in _types(p)])


@n8n_group.command("remove")
@click.argument("package")
@JSON_OPTION
def remove_command(package: str, as_json: bool) -> None:
    """Remove the installed community package PACKAGE (its connections stay, but their type is unknown then)."""
    from fluxnex.n8n.packages import remove_package

    removed = remove_package(package)
    if as_json:
        echo_json({"removed": removed.name, "version": removed.version, "types": removed.type_names})
        return
    click.echo(f"removed {removed.name} {removed.version} ({len(removed.type_names)} credential types)")
