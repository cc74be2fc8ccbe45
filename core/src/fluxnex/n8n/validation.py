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

from fluxnex.contract.errors import ExpressionError, ValidationError
from fluxnex.contract.schema import CredentialType, Property
from fluxnex.n8n.domains import DOMAIN_FIELDS, check_domain_fields
from fluxnex.n8n.expression_marks import EXPRESSIONS_KEY, as_expression, check_marks, literalise

__all__ = [
    "CODE_TOKENS_FIELD", "MANAGED_FIELDS", "MAX_DATA_BYTES", "MAX_LIFETIME_SECONDS", "MAX_VALUE_BYTES", "OPTIONAL_WHEN",
    "check_connection_name", "is_required", "text_problem", "token_lifetime_problem", "unstorable", "validate",
    "visible_properties",
]

#: The tokens code-authenticated types fetched before their requests (``fluxnex.lifecycle.code_tokens_shared``).
CODE_TOKENS_FIELD: Final = "codeTokenData"
#: Fields the framework writes itself (OAuth2 token responses, as n8n stores them; fetched tokens).
MANAGED_FIELDS: Final = frozenset({"oauthTokenData", "oauthServer", "preAuthTokenData", CODE_TOKENS_FIELD})
#: A required property that is optional when another field has one of the values: name -> (field, values).
OPTIONAL_WHEN: Final[dict[str, tuple[str, frozenset[str]]]] = {"clientSecret": ("grantType", frozenset({"pkce"}))}
MAX_VALUE_BYTES: Final = 64 * 1024
MAX_DATA_BYTES: Final = 256 * 1024

_STRING_TYPES: Final = frozenset({"string", "password", "color", "dateTime"})


MAX_NAME_LENGTH: Final = 200


def check_connection_name(name: object) -> None:
    """Raise ``ValidationError`` unless ``name`` is a usable connection name (one line naming the problem)."""
    import unicodedata

    problem: str | None = None
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        problem = f"must be a non-empty string of at most {MAX_NAME_LENGTH} characters"
    else:
        problem = text_problem(name)
        bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")), None)
        if problem is None and bad is not None:
            problem = f"contains the control character U+{ord(bad):04X}: names are shown in logs and terminals"
    if problem is not None:
        raise ValidationError("(connection)", [("name", problem)])


def visible_properties(ct: CredentialType, data: Mapping[str, Any]) -> list[Property]:
    """The properties shown for ``data`` (defaults filled in first), one per name, notices excluded."""
    from fluxnex.n8n.display_options import is_shown

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
    if exception is None:
        return True
    value = values.get(exception[0])
    return not isinstance(value, str) or value not in exception[1]


def validate(ct: CredentialType, data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the data to store for ``ct``; raise ``ValidationError`` listing every problem."""
    if not isinstance(data, Mapping):
        raise ValidationError(ct.name, [("(data)", f"expected an object, got {type(data).__name__}")])
    problems: list[tuple[str, str]] = []
    known = {p.name for p in ct.properties}
    for key in data:
        if not isinstance(key, str):
            problems.append((repr(key), "field names must be strings"))
        elif key not in known and key not in MANAGED_FIELDS and key not in DOMAIN_FIELDS and key != EXPRESSIONS_KEY:
            problems.append((key, "unknown field"))
    problems.extend(check_domain_fields(data))
    marks, mark_problems = check_marks(data)
    problems.extend(mark_problems)
    result: dict[str, Any] = {}
    values = {**ct.defaults(), **data}
    for prop in visible_properties(ct, data):
        if prop.name in data:
            # a user's value is literal unless marked as an expression (see fluxnex.n8n.expression_marks)
            value = as_expression(data[prop.name]) if prop.name in marks else literalise(data[prop.name])
            problem = unstorable(value) or _check_value(prop, value, expression=prop.name in marks)
            if problem is not None:
                problems.append((prop.name, problem))
                continue
        else:
            value = as_expression(prop.default_value)  # a type's default keeps n8n's '=' rule
        if is_required(prop, values) and (value is None or value == ""):
            problems.append((prop.name, "is required"))
            continue
        result[prop.name] = value
    for field in sorted(DOMAIN_FIELDS - known):  # n8n adds these to every type (see fluxnex.n8n.domains)
        if field in data:
            result[field] = data[field]
    for managed in sorted(MANAGED_FIELDS):
        value = data.get(managed)
        if value is None:
            continue
        if isinstance(value, Mapping):
            problem = unstorable(value) or (token_lifetime_problem(value) if managed == "oauthTokenData" else None)
            if problem is not None:
                problems.append((managed, problem))
            result[managed] = literalise(dict(value))
        else:
            problems.append((managed, "must be an object"))
    if not problems:
        size = len(json.dumps(result, default=str).encode())
        if size > MAX_DATA_BYTES:
            problems.append(("(data)", f"is {size} bytes serialised, over the limit of {MAX_DATA_BYTES}"))
    if problems:
        raise ValidationError(ct.name, problems)
    return result


def unstorable(value: Any, where: str = "") -> str | None:
    """Why ``value`` (nested too) cannot be stored: a NUL, a lone surrogate or a non-finite number; else None."""
    if isinstance(value, str):
        return text_problem(value, where)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'value'}: {value!r} is not a finite number"
    if isinstance(value, Mapping):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            problem = (text_problem(key, "a key") if isinstance(key, str) else None) or unstorable(item, inner)
            if problem is not None:
                return problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = unstorable(item, f"{where}[{index}]")
            if problem is not None:
                return problem
    return None


def text_problem(text: str, where: str = "") -> str | None:
    """Why ``text`` cannot be stored (a NUL byte or a lone surrogate, e.g. invalid UTF-8 from a shell), else None."""
    prefix = f"{where}: " if where else ""
    if "\x00" in text:
        return f"{prefix}contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"{prefix}contains a lone surrogate at position {exc.start} (text that was not valid UTF-8?)"
    return None


#: The longest token or refresh-token lifetime accepted, in seconds (100 years); epoch times up to year 9999.
MAX_LIFETIME_SECONDS: Final = 100 * 365 * 86400
_MAX_EPOCH_SECONDS: Final = 253_402_300_799
_LIFETIME_FIELDS: Final = ("expires_in", "x_refresh_token_expires_in", "refresh_token_expires_in",
                           "refresh_expires_in")
_EPOCH_FIELDS: Final = ("expires_at", "refresh_token_expires_at")


def token_lifetime_problem(token: Mapping[str, Any]) -> str | None:
    """Why a token response's lifetimes or expiry times are unusable (negative, absurd), else None."""
    # a lifetime may be negative (a token handed over already expired); an epoch time is after 1970
    for field, low, top in [(f, -MAX_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS) for f in _LIFETIME_FIELDS] + [
            (f, 0, _MAX_EPOCH_SECONDS) for f in _EPOCH_FIELDS]:
        value = token.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value) or not low <= value <= top:
            return f"{field} must be a number of seconds between {low} and {top}, got {value!r}"
    return None


def _check_value(prop: Property, value: Any, *, expression: bool = False) -> str | None:
    """A one-line problem with ``value`` for ``prop``, or None when it is acceptable."""
    if isinstance(value, str):
        if len(value.encode()) > MAX_VALUE_BYTES:
            return f"value is longer than the limit of {MAX_VALUE_BYTES} bytes"
        if expression:
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
    from fluxnex.n8n.expressions import parse

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
