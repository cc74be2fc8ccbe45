"""Checks of credential type definitions, and ``extends`` resolution exactly as n8n performs it."""

from __future__ import annotations

from collections.abc import Callable

from fluxnex.contract.errors import PluginError
from fluxnex.contract.schema import PROPERTY_TYPES, UNSET, CredentialType, Property

__all__ = ["check_definition", "resolve_properties"]

Lookup = Callable[[str], "CredentialType | None"]


def _is_expression(value: object) -> bool:
    return isinstance(value, str) and value.startswith("=")


def check_definition(
    ct: CredentialType, lookup: Lookup, *, distribution: str = "?", allow_duplicates: bool = False
) -> None:
    """Raise ``PluginError`` naming the type, the property and ``distribution`` when ``ct`` is invalid.

    Checked: a name, property names unique and non-empty, known property types, an ``options`` default among
    its options, every ``extends`` parent known, and no inheritance cycle. ``allow_duplicates`` is for n8n's
    own catalog, where four types declare a property twice (n8n keeps the last one when it merges
    ``extends``, and shows the variant whose ``displayOptions`` match otherwise).
    """

    def fail(problem: str, prop: str | None = None) -> PluginError:
        where = f"credential type {ct.name!r}" + (f", property {prop!r}" if prop is not None else "")
        return PluginError(f"{distribution}: {where}: {problem}")

    if not ct.name or not isinstance(ct.name, str):
        raise fail("the type has no name")
    seen: set[str] = set()
    for prop in ct.properties:
        if not prop.name:
            raise fail("a property has no name", prop.display_name)
        if prop.name in seen and not allow_duplicates:
            raise fail("duplicate property name", prop.name)
        seen.add(prop.name)
        if prop.type not in PROPERTY_TYPES:
            raise fail(f"unknown property type {prop.type!r}", prop.name)
        _check_options_default(prop, fail)
    for parent in ct.extends or []:
        if parent != ct.name and lookup(parent) is None:
            raise fail(f"extends unknown credential type {parent!r}")
    _check_cycle(ct, lookup, fail)


def _check_options_default(prop: Property, fail: Callable[[str, str | None], PluginError]) -> None:
    allowed = prop.option_values
    if allowed is None or prop.default in (None, UNSET) or _is_expression(prop.default):
        return
    defaults = (
        prop.default if prop.type == "multiOptions" and isinstance(prop.default, list) else [prop.default]
    )
    if prop.type == "options" and prop.default == "" and "" not in allowed:
        return  # n8n leaves an options property empty until chosen; `required` decides whether that is valid
    for value in defaults:
        if value not in allowed:
            raise fail(f"default {value!r} is not among its options {allowed!r}", prop.name)


def _check_cycle(ct: CredentialType, lookup: Lookup, fail: Callable[[str], PluginError]) -> None:
    path: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            raise fail("inheritance cycle: " + " -> ".join([*path[path.index(name) :], name]))
        definition = ct if name == ct.name else lookup(name)
        if definition is None:
            return
        path.append(name)
        for parent in definition.extends or []:
            visit(parent)
        path.pop()

    visit(ct.name)


def resolve_properties(name: str, lookup: Lookup) -> list[Property]:
    """The properties of ``name`` after ``extends``, as n8n's ``getCredentialsProperties`` computes them.

    Parents are merged in listed order (a later parent overrides an earlier one by property name), then the
    type's own properties override them all; a property flagged ``doNotInherit`` is skipped at every merge.
    A type without ``extends`` keeps its own list as it is.
    """
    definition = lookup(name)
    if definition is None:
        raise PluginError(f"credential type {name!r} extends an unknown type")
    if definition.extends is None:
        return list(definition.properties)
    combined: list[Property] = []
    for parent in definition.extends:
        _merge(combined, resolve_properties(parent, lookup))
    _merge(combined, definition.properties)
    return combined


def _merge(main: list[Property], add: list[Property]) -> None:
    for prop in add:
        if prop.do_not_inherit:
            continue
        for index, existing in enumerate(main):
            if existing.name == prop.name:
                main[index] = prop
                break
        else:
            main.append(prop)
