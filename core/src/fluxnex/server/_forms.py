"""The connect form: fields rendered from a type's visible properties, and submitted values parsed back.

Fields are named after the n8n property names. Hidden properties and those the operator's OAuth app provides
are not rendered (their non-secret values reach the page as data for displayOptions). Secret values are never
rendered back: a secret field is always empty; on a reconnect an empty secret keeps the stored one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from fluxnex.contract.schema import CredentialType, Property
from fluxnex.n8n.display_options import is_shown

__all__ = ["Field", "build_fields", "hidden_values", "parse_form", "visible_data"]

_KINDS = {"password": "password", "number": "number", "boolean": "checkbox", "options": "select",
          "multiOptions": "multiselect", "json": "textarea", "collection": "textarea",
          "fixedCollection": "textarea", "notice": "notice"}


@attrs.frozen
class Field:
    """One form field as the template renders it."""

    name: str
    label: str
    kind: str
    input_type: str
    value: str
    checked: bool
    options: list[dict[str, Any]]
    description: str | None
    hint: str | None
    placeholder: str
    required: bool
    error: str | None
    display_options_json: str | None
    shown: bool
    stored: bool


def _kind(p: Property) -> str:
    if p.is_secret and p.type not in ("notice",):
        return "password"
    return _KINDS.get(p.type, "text")


def form_properties(ct: CredentialType, inherited: Mapping[str, Any]) -> list[Property]:
    """The properties the form shows: not hidden, not provided by the OAuth app, not the token."""
    return [p for p in ct.properties
            if p.type != "hidden" and p.name != "oauthTokenData" and inherited.get(p.name) in (None, "")]


def hidden_values(ct: CredentialType, shown: list[Property], values: Mapping[str, Any]) -> dict[str, Any]:
    """Non-secret values of the properties not in the form (defaults or stored), for displayOptions on the page."""
    names = {p.name for p in shown}
    out: dict[str, Any] = {}
    for p in ct.properties:
        if p.name in names or p.is_secret or p.type == "notice":
            continue
        out[p.name] = values.get(p.name, p.default_value)
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def build_fields(ct: CredentialType, inherited: Mapping[str, Any], values: Mapping[str, Any],
                 errors: Mapping[str, str], stored_secrets: frozenset[str] = frozenset()) -> list[Field]:
    """The fields for ``values`` (what the user typed, stored values, or defaults), with errors beside them."""
    shown = form_properties(ct, inherited)
    check = {p.name: p.default_value for p in ct.properties}
    check.update(inherited)
    check.update(values)
    fields = []
    for p in shown:
        kind = _kind(p)
        value = values.get(p.name, p.default_value)
        options = []
        if kind in ("select", "multiselect"):
            chosen = value if isinstance(value, list) else [value]
            options = [{"value": json.dumps(o.get("value")), "label": str(o.get("name", o.get("value"))),
                        "selected": o.get("value") in chosen}
                       for o in p.options or [] if isinstance(o, Mapping)]
        secret = kind == "password"
        fields.append(Field(
            name=p.name, label=p.display_name, kind=kind,
            input_type={"password": "password", "number": "number"}.get(kind, "text"),
            value="" if secret or kind in ("checkbox", "select", "multiselect") else _text(value),
            checked=value is True, options=options, description=p.description, hint=p.hint,
            placeholder=p.placeholder or "", required=bool(p.required), error=errors.get(p.name),
            display_options_json=json.dumps(p.display_options) if p.display_options else None,
            shown=is_shown(p.display_options, check), stored=secret and p.name in stored_secrets,
        ))
    return fields


def parse_form(ct: CredentialType, inherited: Mapping[str, Any], form: Any,
               stored: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the values the form submitted over ``stored``, per-field parse errors); hidden-by-displayOptions dropped."""
    values: dict[str, Any] = {k: v for k, v in stored.items() if k != "oauthTokenData"}
    errors: dict[str, str] = {}
    shown = form_properties(ct, inherited)
    for p in shown:
        kind = _kind(p)
        raw = form.get(p.name)
        try:
            if kind == "notice":
                continue
            if kind == "checkbox":
                values[p.name] = raw == "true"
            elif kind == "select":
                if raw is not None:
                    values[p.name] = json.loads(raw)
            elif kind == "multiselect":
                values[p.name] = [json.loads(v) for v in form.getlist(p.name)]
            elif kind == "number":
                if raw not in (None, ""):
                    number = float(raw)
                    values[p.name] = int(number) if number.is_integer() and "." not in raw else number
            elif kind == "textarea" and p.type != "string":
                if raw not in (None, ""):
                    values[p.name] = json.loads(raw)
            elif kind == "password":
                if raw not in (None, "") or p.name not in stored:
                    values[p.name] = raw or ""
            elif raw is not None:
                values[p.name] = raw
        except ValueError:
            errors[p.name] = "must be a number" if kind == "number" else "is not valid JSON"
    return visible_data(ct, {**inherited, **values}, values), errors


def visible_data(ct: CredentialType, check: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the properties displayOptions hide (evaluated on ``check``, defaults filled)."""
    full = {p.name: p.default_value for p in ct.properties}
    full.update(check)
    hidden = {p.name for p in ct.properties if not is_shown(p.display_options, full)}
    return {k: v for k, v in values.items() if k not in hidden}
