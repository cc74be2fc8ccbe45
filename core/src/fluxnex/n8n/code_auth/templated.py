"""n8n's generic code-authenticated HTTP types: ``httpMultipleHeadersAuth`` and ``httpTemplatedCustomAuth``.

``httpTemplatedCustomAuth`` restates n8n-nodes-base's ``utils/templated-auth``: the template is parsed first and
``{{placeholder}}`` markers are replaced per string leaf, so a value can never change the template's structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth._context import AuthFunction, Context
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, get, put, spread, text, truthy

Creds = Mapping[str, Any]

_MARKER = re.compile(r"\{\{\s*([\w.-]+)\s*\}\}", re.ASCII)
_OMIT = object()


def multiple_headers(c: Creds, o: Options, _: Context) -> Options:
    """Every ``{name, value}`` pair of the ``headers`` collection becomes a header (later names win)."""
    collection = get(c, "headers")
    values = collection.get("values") if isinstance(collection, Mapping) else None
    if not isinstance(values, list):
        raise CodeAuthError("httpMultipleHeadersAuth: the credential has no list of headers")
    added: dict[str, Any] = {}
    for entry in values:
        if not isinstance(entry, Mapping):
            raise CodeAuthError("httpMultipleHeadersAuth: a header entry is not an object")
        put(added, text(get(entry, "name")), get(entry, "value"))
    o = copy(o)
    o["headers"] = {**spread(o.get("headers")), **added}
    return o


def _json(raw: Any, fallback: str, message: str) -> Any:
    source = raw if truthy(raw) else fallback
    if not isinstance(source, str):
        raise CodeAuthError(message)
    try:
        return json.loads(source)
    except ValueError:
        raise CodeAuthError(message) from None


def _optional_markers(c: Creds) -> set[str]:
    try:
        parsed = json.loads(c["placeholderDefs"]) if truthy(get(c, "placeholderDefs")) else []
    except (TypeError, ValueError):
        parsed = []  # n8n: jsonParse with fallbackValue []
    if not isinstance(parsed, list):
        return set()
    return {d["name"] for d in parsed
            if isinstance(d, dict) and isinstance(d.get("name"), str) and d.get("optional") is True}


def resolve_templated_auth(c: Creds) -> dict[str, Any]:
    """The template's ``headers``/``body``/``qs`` with every marker replaced (n8n's ``resolveTemplatedAuth``)."""
    template = _json(get(c, "template"), "{}", "Invalid Simplified Custom Auth template JSON")
    if not isinstance(template, dict):
        raise CodeAuthError("Simplified Custom Auth template must be a JSON object")
    for part in ("headers", "body", "qs"):
        if part in template and not isinstance(template[part], dict):
            raise CodeAuthError(f"Simplified Custom Auth template {part} must be a JSON object")
    values = _json(get(c, "placeholderValues"), "{}", "Invalid Simplified Custom Auth placeholder values JSON")
    if not isinstance(values, dict):
        raise CodeAuthError("Simplified Custom Auth placeholder values must be a JSON object")
    optional = _optional_markers(c)

    def empty(name: str) -> bool:
        return values.get(name) in (None, "")

    def resolve(part: Any) -> Any:
        if isinstance(part, str):
            if any(empty(m.group(1)) and m.group(1) in optional for m in _MARKER.finditer(part)):
                return _OMIT

            def substitute(match: re.Match[str]) -> str:
                value = values.get(match.group(1))
                if value in (None, ""):
                    raise CodeAuthError(f"No value set for placeholder {match.group(0)} of the Simplified Custom "
                                        "Auth credential")
                if isinstance(value, dict | list):
                    raise CodeAuthError(f"The value of placeholder {match.group(0)} of the Simplified Custom Auth "
                                        "credential must be a plain value")
                return text(value)

            return _MARKER.sub(substitute, part)
        if isinstance(part, list):
            return [r for r in (resolve(e) for e in part) if r is not _OMIT]
        if isinstance(part, dict):
            return {k: r for k, r in ((k, resolve(e)) for k, e in part.items()) if r is not _OMIT}
        return part

    resolved: dict[str, Any] = resolve(template)
    return resolved


def templated_custom(c: Creds, o: Options, _: Context) -> Options:
    """The resolved template's headers, body fields and query parameters merged into the request."""
    auth = resolve_templated_auth(c)
    o = copy(o)
    if truthy(auth.get("headers")):
        o["headers"] = {**spread(o.get("headers")), **auth["headers"]}
    if truthy(auth.get("body")):
        existing = o.get("body")
        if "body" in o and not isinstance(existing, dict):
            raise CodeAuthError("Simplified Custom Auth body templates cannot be applied to non-object request bodies")
        o["body"] = {**spread(existing), **auth["body"]}
    if truthy(auth.get("qs")):
        o["qs"] = {**spread(o.get("qs")), **auth["qs"]}
    return o


IMPLEMENTATIONS: dict[str, AuthFunction] = {
    "httpMultipleHeadersAuth": multiple_headers,
    "httpTemplatedCustomAuth": templated_custom,
}
