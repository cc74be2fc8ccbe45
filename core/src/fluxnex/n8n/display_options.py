"""n8n ``displayOptions`` evaluation (``show``/``hide`` and ``_cnd`` conditions), as n8n-workflow's
NodeHelpers.displayParameter does for credential properties.

Rules (from n8n-workflow 2.41 ``displayParameter``/``checkConditions``/``getPropertyValues``):
``show`` needs every key to match, a key matches when any listed condition matches; a key whose value is
an expression (string starting with ``=``) shows the property at once; ``hide`` hides when any key matches,
except keys whose value is an empty list. A missing value is ``undefined``: it matches nothing but a
``_cnd.not``. List values are checked element-wise (every element must satisfy a ``_cnd``; plain values
match when the list contains them). ``@version`` is the node version (0 for credentials), ``@tool`` is
false, ``@feature`` is empty, a leading ``/`` reads from the root values. Equality is JavaScript's
(``1`` never equals ``"1"`` nor ``true``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions import UNDEFINED, is_expression
from fluxnex.n8n.expressions._jsvalues import compare, is_number, strict_equals
from fluxnex.n8n.expressions._regex import JSRegExp

__all__ = ["is_shown", "lodash_get", "visible_properties"]

_PATH = re.compile(r"[^.[\]]+")


def lodash_get(value: Any, path: Any) -> Any:
    """lodash ``get(value, path)`` (dotted and bracketed paths); UNDEFINED when absent."""
    if isinstance(value, Mapping) and isinstance(path, str) and path in value:
        return value[path]
    current: object = value
    for part in _PATH.findall(str(path)):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return UNDEFINED
    return current


def _property_values(values: Mapping[str, Any], name: str, root: Mapping[str, Any],
                     node_version: float) -> list[object]:
    if name.startswith("/"):
        value = lodash_get(root, name[1:])
    elif name == "@version":
        value = node_version or 0
    elif name == "@tool":
        value = False
    elif name == "@feature":
        return []
    else:
        value = lodash_get(values, name)
    if isinstance(value, Mapping) and value.get("__rl"):
        value = value.get("value", UNDEFINED)
    return list(value) if isinstance(value, list) else [value]


def _deep_equal(a: object, b: object) -> bool:
    """Return lodash ``isEqual`` for JSON-like values."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if is_number(a) and is_number(b) and a != a and b != b:  # NaN equals NaN in isEqual
        return True
    return strict_equals(a, b)


def _regex_test(pattern: object, subject: str) -> bool:
    try:
        regex = JSRegExp(pattern.source, pattern.flags) if isinstance(pattern, JSRegExp) else JSRegExp(
            str(pattern), "")
        regex.check_subject(subject)
    except ExpressionError:
        return False
    return regex.pattern.search(subject) is not None


def _check_one(key: str, target: object, value: object) -> bool:
    if key == "eq":
        return _deep_equal(value, target)
    if key == "not":
        return not _deep_equal(value, target)
    if key in ("gte", "lte", "gt", "lt"):
        return compare({"gte": ">=", "lte": "<=", "gt": ">", "lt": "<"}[key], value, target)
    if key == "between":
        bounds = target if isinstance(target, Mapping) else {}
        low, high = bounds.get("from", UNDEFINED), bounds.get("to", UNDEFINED)
        return compare(">=", value, low) and compare("<=", value, high)
    if key in ("includes", "startsWith", "endsWith"):
        if not isinstance(value, str):
            return False
        needle = target if isinstance(target, str) else str(target)
        if key == "includes":
            return needle in value
        return value.startswith(needle) if key == "startsWith" else value.endswith(needle)
    if key == "regex":
        return isinstance(value, str) and _regex_test(target, value)
    if key == "exists":
        return value is not None and value is not UNDEFINED and value != ""
    return False


def check_conditions(conditions: Iterable[object], actual: Sequence[object]) -> bool:
    """Return n8n ``checkConditions``: any condition matches the actual values."""
    for condition in conditions:
        if isinstance(condition, Mapping) and condition.get("_cnd") and len(condition) == 1:
            cnd = condition["_cnd"]
            if not isinstance(cnd, Mapping) or not cnd:
                continue
            key, target = next(iter(cnd.items()))
            if not actual:
                if key == "not":
                    return True
                continue
            if all(_check_one(key, target, v) for v in actual):
                return True
        elif any(strict_equals(v, condition) for v in actual):
            return True
    return False


def is_shown(display_options: Mapping[str, Any] | None, values: Mapping[str, Any], *,
             root: Mapping[str, Any] | None = None, node_version: float = 0) -> bool:
    """Tell whether a property with these ``displayOptions`` is displayed for ``values``."""
    if not display_options:
        return True
    root = values if root is None else root
    show = display_options.get("show")
    hide = display_options.get("hide")
    if isinstance(show, Mapping):
        for name, conditions in show.items():
            actual = _property_values(values, name, root, node_version)
            if any(is_expression(v) for v in actual):
                return True
            if not check_conditions(_as_list(conditions), actual):
                return False
    if isinstance(hide, Mapping):
        for name, conditions in hide.items():
            actual = _property_values(values, name, root, node_version)
            if actual and check_conditions(_as_list(conditions), actual):
                return False
    return True


def _as_list(conditions: object) -> list[object]:
    return list(conditions) if isinstance(conditions, (list, tuple)) else [conditions]


def _field(prop: object, key: str, attr: str) -> Any:
    if isinstance(prop, Mapping):
        return prop.get(key)
    return getattr(prop, attr, None)


def visible_properties(properties: Sequence[Any], values: Mapping[str, Any]) -> list[Any]:
    """Return the properties displayed for ``values`` (missing values take their defaults, as n8n does).

    Properties are n8n JSON dicts (``name``, ``displayOptions``, ``default``) or objects with ``name``,
    ``display_options`` and ``default`` attributes.
    """
    check: dict[str, Any] = dict(values)
    for prop in properties:
        name = _field(prop, "name", "name")
        if name is not None and check.get(name) is None and name not in values:
            check[name] = _field(prop, "default", "default")
    return [p for p in properties
            if is_shown(_field(p, "displayOptions", "display_options"), check)]
