"""A credential type as the API shows it: properties after ``extends``, displayOptions, secret flags, and a
JSON Schema (2020-12) of its data."""

from __future__ import annotations

from typing import Any

from fluxnex.contract.plugins import TypeRegistry
from fluxnex.contract.schema import UNSET, CredentialType, Property

__all__ = ["data_schema", "describe_type", "type_summary"]


def type_summary(registry: TypeRegistry, ct: CredentialType) -> dict[str, Any]:
    """Name, display name, extends and whether it is OAuth2."""
    return {"name": ct.name, "display_name": ct.display_name, "extends": list(ct.extends or []),
            "oauth2": registry.is_a(ct.name, "oAuth2Api")}


def _property(p: Property) -> dict[str, Any]:
    return {
        "name": p.name,
        "display_name": p.display_name,
        "type": p.type,
        "required": bool(p.required),
        "secret": p.is_secret,
        "default": None if p.is_secret else p.default_value,
        "description": p.description,
        "placeholder": p.placeholder,
        "hint": p.hint,
        "options": [{"name": o.get("name"), "value": o.get("value")} for o in p.options or [] if isinstance(o, dict)]
        if p.type in ("options", "multiOptions") else None,
        "display_options": p.display_options,
    }


def _value_schema(p: Property) -> dict[str, Any]:
    values = p.option_values
    if p.type == "options" and values is not None:
        schema: dict[str, Any] = {"enum": values}
    elif p.type == "multiOptions":
        schema = {"type": "array", "items": {"enum": values} if values is not None else {}}
    elif p.type == "number":
        schema = {"type": "number"}
    elif p.type == "boolean":
        schema = {"type": "boolean"}
    elif p.type in ("collection", "fixedCollection"):
        schema = {"type": "object"}
    elif p.type == "json":
        schema = {}
    else:
        schema = {"type": "string"}
        if p.type == "dateTime":
            schema["format"] = "date-time"
    schema["title"] = p.display_name
    if p.description:
        schema["description"] = p.description
    if p.is_secret:
        schema["writeOnly"] = True
    elif p.default is not UNSET:
        schema["default"] = p.default
    if p.display_options:
        schema["x-displayOptions"] = p.display_options
    return schema


def data_schema(ct: CredentialType) -> dict[str, Any]:
    """The JSON Schema of the type's data (required fields without displayOptions conditions are listed)."""
    props = [p for p in ct.properties if p.type != "notice"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": ct.display_name,
        "type": "object",
        "properties": {p.name: _value_schema(p) for p in props},
        "required": [p.name for p in props if p.required and not p.display_options and p.type != "hidden"],
    }


def describe_type(registry: TypeRegistry, ct: CredentialType) -> dict[str, Any]:
    """Everything a client needs to build a form for the type."""
    return {**type_summary(registry, ct), "documentation_url": ct.documentation_url,
            "properties": [_property(p) for p in ct.properties], "json_schema": data_schema(ct)}
