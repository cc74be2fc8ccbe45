"""Connection data checked against a resolved credential type, before anything is written.

``validate(ct, data)`` returns the data to store: every property that is shown for these values (n8n's
``displayOptions``), with defaults filled in; properties hidden by ``displayOptions`` are neither required
nor kept. Every problem is collected and raised at once as one ``ValidationError`` naming each field.

One rule beyond the schema, as n8n's OAuth2 client behaves: with ``grantType: "pkce"`` the ``clientSecret`` is
optional (a public client, RFC 8252; client authentication ``none``), although n8n's ``oAuth2Api`` marks it
required (``OPTIONAL_WHEN``).

Limits: a single value may hold at most ``MAX_VALUE_BYTES`` (64 KiB) of text, and the whole data at most
``MAX_DATA_BYTES`` (256 KiB) once serialised.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from .errors import ExpressionError, ValidationError
from .schema import CredentialType, Property

__all__ = [
    "MANAGED_FIELDS", "MAX_DATA_BYTES", "MAX_VALUE_BYTES", "OPTIONAL_WHEN", "is_required", "validate",
    "visible_properties",
]

#: Fields the framework writes itself (OAuth2 token responses, as n8n stores them).
MANAGED_FIELDS: Final = frozenset({"oauthTokenData", "oauthServer"})
#: A required property that is optional when another field has one of the values: name -> (field, values).
OPTIONAL_WHEN: Final[dict[str, tuple[str, frozenset[str]]]] = {"clientSecret": ("grantType", frozenset({"pkce"}))}
MAX_VALUE_BYTES: Final = 64 * 1024
MAX_DATA_BYTES: Final = 256 * 1024

_STRING_TYPES: Final = frozenset({"string", "password", "color", "dateTime"})


def visible_properties(ct: CredentialType, data: Mapping[str, Any]) -> list[Property]:
    """The properties shown for ``data`` (defaults filled in first), one per name, notices excluded."""
    from .display_options import is_shown

    values = {**ct.defaults(), **data}
    shown: dict[str, Property] = {}
    for prop in ct.properties:
        if prop.type == "notice" or prop.name in shown:
            continue
        if is_shown(prop.display_options, values):
            shown[prop.name] = prop
    return list(shown.values())


def is_required(prop: Property, values: Mapping[str, Any]) -> bool:
    """Whether ``prop`` must have a value, given the connection's ``values`` (defaults filled in)."""
    if not prop.required:
        return False
    exception = OPTIONAL_WHEN.get(prop.name)
    return exception is None or values.get(exception[0]) not in exception[1]


def validate(ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the data to store for ``ct``; raise ``ValidationError`` listing every problem."""
    if not isinstance(data, Mapping):
        raise ValidationError(ct.name, [("(data)", f"expected an object, got {type(data).__name__}")])
    problems: list[tuple[str, str]] = []
    known = {p.name for p in ct.properties}
    for key in data:
        if not isinstance(key, str):
            problems.append((repr(key), "field names must be strings"))
        elif key not in known and key not in MANAGED_FIELDS:
            problems.append((key, "unknown field"))
    result: dict[str, Any] = {}
    values = {**ct.defaults(), **data}
    for prop in visible_properties(ct, data):
        if prop.name in data:
            value = data[prop.name]
            problem = _check_value(prop, value)
            if problem is not None:
                problems.append((prop.name, problem))
                continue
        else:
            value = prop.default_value
        if is_required(prop, values) and (value is None or value == ""):
            problems.append((prop.name, "is required"))
            continue
        result[prop.name] = value
    for managed in sorted(MANAGED_FIELDS):
        value = data.get(managed)
        if value is None:
            continue
        if isinstance(value, Mapping):
            result[managed] = dict(value)
        else:
            problems.append((managed, "must be an object"))
    if not problems:
        size = len(json.dumps(result, default=str).encode())
        if size > MAX_DATA_BYTES:
            problems.append(("(data)", f"is {size} bytes serialised, over the limit of {MAX_DATA_BYTES}"))
    if problems:
        raise ValidationError(ct.name, problems)
    return result


def _check_value(prop: Property, value: Any) -> str | None:
    """A one-line problem with ``value`` for ``prop``, or None when it is acceptable."""
    if isinstance(value, str):
        if len(value.encode()) > MAX_VALUE_BYTES:
            return f"value is longer than the limit of {MAX_VALUE_BYTES} bytes"
        if value.startswith("="):
            return _check_expression(value)
    kind = prop.type
    if kind in _STRING_TYPES:
        return None if isinstance(value, str) else f"expected a string, got {_js_type(value)}"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"expected a number, got {_js_type(value)}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected a boolean, got {_js_type(value)}"
    if kind == "options":
        allowed = prop.option_values
        if allowed is not None and value not in allowed:
            return f"{value!r} is not one of {allowed!r}"
        return None
    if kind == "multiOptions":
        allowed = prop.option_values
        if not isinstance(value, list):
            return f"expected a list, got {_js_type(value)}"
        bad = [v for v in value if allowed is not None and v not in allowed]
        return f"{bad!r} not among {allowed!r}" if bad else None
    if kind == "json":
        if isinstance(value, str):
            if value == "":
                return None
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                return f"is not valid JSON ({exc.msg} at position {exc.pos})"
            return None
        return None if isinstance(value, dict | list) else f"expected JSON text, got {_js_type(value)}"
    if kind in ("collection", "fixedCollection"):
        return None if isinstance(value, dict) else f"expected an object, got {_js_type(value)}"
    if kind == "hidden":
        return _check_json_value(value)
    return None


def _check_expression(value: str) -> str | None:
    from .expressions import parse

    try:
        parse(value)
    except ExpressionError as exc:
        return f"invalid expression ({exc})"
    return None


def _check_json_value(value: Any) -> str | None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return f"expected a JSON value, got {_js_type(value)}"
    return None


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
