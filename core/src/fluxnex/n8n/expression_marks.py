"""Which stored values are n8n expressions: a literal a user types is never evaluated.

n8n treats every string that begins with ``=`` as an expression. For type definitions (defaults,
``authenticate`` blocks, test requests) and for n8n imports FluxNex keeps that rule. For the values a user
stores it does not: a password ``=MyPa55{{word`` must reach the provider unchanged. So a connection's own
values are literal unless marked:

- through JSON (the CLI, files, the API): list the fields under ``"$expressions"``, e.g.
  ``{"url": "={{ 'https://' + $self.host }}", "$expressions": ["url"]}``;
- from Python: wrap the value, ``fluxnex.Expression("={{ ... }}")``.

Only top-level string fields can be marked; nested values (collections, ``oauthTokenData``) are literal.
Defaults filled in from the type stay expressions. The marks are stored inside the encrypted data (the
``$expressions`` list, always written, possibly empty); rows written before this existed carry no list and
keep n8n's rule for their top-level values. After decryption a literal that begins with ``=`` is a
:class:`Literal` (a ``str`` the evaluator leaves alone) and a marked value an :class:`Expression`, so data read
and written back keeps its meaning; a value that lost its type is written back literal (the safe side).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fluxnex.n8n.expressions import Expression, Literal

__all__ = [
    "EXPRESSIONS_KEY", "Expression", "Literal", "as_expression", "check_marks", "from_stored", "literalise",
    "to_stored",
]

#: The key, inside a connection's data, that lists the fields whose values are expressions.
EXPRESSIONS_KEY: Final = "$expressions"


def _starts_expression(value: object) -> bool:
    return isinstance(value, str) and value.startswith("=")


def as_expression(value: Any) -> Any:
    """``value`` as an :class:`Expression` when it is a string beginning with ``=``, else unchanged."""
    if isinstance(value, str) and value.startswith("=") and not isinstance(value, Literal | Expression):
        return Expression(value)
    return value


def literalise(value: Any) -> Any:
    """``value`` with every string that begins with ``=`` (nested too) made a :class:`Literal`."""
    if isinstance(value, str):
        return Literal(value) if value.startswith("=") and not isinstance(value, Literal) else value
    if isinstance(value, Mapping):
        return {k: literalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literalise(v) for v in value]
    return value


def check_marks(data: Mapping[str, Any]) -> tuple[set[str], list[tuple[str, str]]]:
    """The fields ``data`` marks as expressions (``$expressions`` and :class:`Expression` values), and problems."""
    problems: list[tuple[str, str]] = []
    marks: set[str] = {k for k, v in data.items() if isinstance(v, Expression)}
    listed = data.get(EXPRESSIONS_KEY, [])
    if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
        return marks, [(EXPRESSIONS_KEY, "must be a list of field names")]
    for field in listed:
        if field not in data:
            problems.append((EXPRESSIONS_KEY, f"names {field!r}, which the data does not contain"))
        elif not _starts_expression(data[field]) or isinstance(data[field], Literal):
            problems.append((EXPRESSIONS_KEY, f"names {field!r}, whose value is not a string beginning with '='"))
        else:
            marks.add(field)
    return marks, problems


def to_stored(data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object to encrypt: ``data`` plus the ``$expressions`` list of its :class:`Expression` fields.

    Only a value that is an ``Expression`` (validation made marked values and type defaults so) is recorded
    as one: a value that lost its type on the way (a plugin that rebuilt the dict) is stored literal, so the
    failure is an expression not evaluated, never a secret evaluated.
    """
    out = {k: v for k, v in data.items() if k != EXPRESSIONS_KEY}
    out[EXPRESSIONS_KEY] = sorted(k for k, v in out.items() if isinstance(v, Expression))
    return out


def from_stored(stored: dict[str, Any]) -> dict[str, Any]:
    """The data of a decrypted JSON object: marked fields as :class:`Expression`, other ``=`` values Literal.

    An object without the list (written before marks existed) keeps n8n's rule: its top-level ``=`` values
    come back as ``Expression``.
    """
    if EXPRESSIONS_KEY not in stored:
        return {k: as_expression(v) for k, v in stored.items()}
    marks = stored.pop(EXPRESSIONS_KEY)
    marked = set(marks) if isinstance(marks, list) else set()
    return {k: as_expression(v) if k in marked else literalise(v) for k, v in stored.items()}
