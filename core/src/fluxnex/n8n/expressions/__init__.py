"""n8n expressions: ``"={{ $credentials.x }}"`` templates evaluated with JavaScript semantics, never eval().

A string starting with ``=`` is a template; its ``{{ ... }}`` blocks are JavaScript expressions over
``$credentials`` and ``$self``. Exactly one block and nothing around it keeps the JavaScript type; otherwise
each block is rendered as n8n does (``v || v === 0 || v === false ? String(v) : ""``) and concatenated.
A JavaScript runtime error (reading a property of undefined, calling a non-function) makes its block
undefined, as in n8n's backend; syntax errors and exceeded limits raise :class:`ExpressionError`.

Expressions are untrusted. Supported: literals (strings, template literals, numbers, booleans, null,
undefined, arrays, objects, regex literals), member access with ``.``, ``[]`` and ``?.``, the operators
``+ - * / % === !== == != < <= > >= && || ?? ! typeof``, the ternary, whitelisted String/Array/Date
methods, ``new Date()``, ``new RegExp()`` and a few globals (String, Number, Boolean, encodeURIComponent,
decodeURIComponent, parseInt, parseFloat, isNaN; like n8n, not btoa/atob). Nothing reaches Python attributes.

Limits (constants in :mod:`fluxnex.n8n.expressions._limits`, re-exported here):
MAX_EXPRESSION_LENGTH characters per template; MAX_NESTING_DEPTH parser nesting (twice that for the
operator tree); MAX_STEPS evaluated nodes per template; MAX_STRING_LENGTH characters per produced string
and MAX_ARRAY_LENGTH elements per array (checked before allocating, so ``'a'.repeat(1e9)`` fails at once);
MAX_WORK characters produced in total (replacement patterns ``$&``, `` $` ``, ``$'`` are charged before they
are expanded); MAX_SECONDS of wall time per evaluation. Regular expressions are translated to the ``regex``
package and every match runs with the evaluation's remaining time as its timeout; ``regex`` releases the GIL
while matching, so a catastrophic pattern (``/(a+)+$/``) costs its caller at most MAX_SECONDS and never
freezes other threads. Patterns longer than MAX_REGEX_SOURCE, backreferences and lookbehind are rejected;
subjects longer than MAX_REGEX_INPUT are refused. Deviations from JavaScript: strings are
Python code-point strings (not UTF-16), ``Array.prototype.pop`` does not mutate, Dates render in UTC.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions._budget import Budget, active_budget, running, shared_budget
from fluxnex.n8n.expressions._evaluator import Evaluator
from fluxnex.n8n.expressions._jsvalues import UNDEFINED, JSDate, JSFunction, is_truthy, normalize_number, to_js_string
from fluxnex.n8n.expressions._limits import (
    MAX_ARRAY_LENGTH,
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_REGEX_INPUT,
    MAX_REGEX_SOURCE,
    MAX_SECONDS,
    MAX_STEPS,
    MAX_STRING_LENGTH,
    MAX_WORK,
)
from fluxnex.n8n.expressions._methods import JSThrow
from fluxnex.n8n.expressions._parser import Node, parse_code
from fluxnex.n8n.expressions._text import Expression, Literal

__all__ = [
    "MAX_ARRAY_LENGTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_NESTING_DEPTH",
    "MAX_REGEX_INPUT",
    "MAX_REGEX_SOURCE",
    "MAX_SECONDS",
    "MAX_STEPS",
    "MAX_STRING_LENGTH",
    "MAX_WORK",
    "UNDEFINED",
    "Expression",
    "Literal",
    "Template",
    "evaluate",
    "find_expressions",
    "is_expression",
    "is_truthy",
    "parse",
    "shared_budget",
    "to_js_string",
]

_OPEN = re.compile(r"\{\{")
_CLOSE = re.compile(r"\}\}")
_CONSTRUCTOR = re.compile(r"\.\s*constructor")


def _split(template: str) -> list[tuple[str, str]]:
    """Split template text into ("text" | "code", text) chunks exactly as n8n's tournament splitter does."""
    if template == "":
        return [("text", "")]
    chunks: list[tuple[str, str]] = []
    searching_open = True
    buffer = ""
    index = 0
    while index < len(template):
        rest = template[index:]
        m = (_OPEN if searching_open else _CLOSE).search(rest)
        if m is None:
            buffer += rest
            chunks.append(("text", buffer) if searching_open else ("code", buffer.replace("\\}}", "}}", 1)))
            break
        before = rest[:m.start()]
        backslashes = len(before) - len(before.rstrip("\\"))
        if backslashes % 2 == 1:
            buffer += rest[:m.start() + 2]
            index += m.start() + 2
            continue
        buffer += before
        if searching_open:
            chunks.append(("text", buffer.replace("\\\\", "\\")))
        else:
            chunks.append(("code", buffer.replace("\\}}", "}}", 1)))
        searching_open = not searching_open
        index += m.start() + 2
        buffer = ""
    return chunks


class Template:
    """A parsed n8n template: text and code chunks, and whether its single block keeps its type."""

    __slots__ = ("chunks", "single", "source")

    def __init__(self, source: str, chunks: list[tuple[str, str | Node]]) -> None:
        self.source = source
        self.chunks = chunks
        self.single = len(chunks) == 2 and chunks[0] == ("text", "")


@functools.lru_cache(maxsize=2048)
def parse(expression_source: str) -> Template:
    """Parse an n8n template (with or without its leading ``=``); raise ExpressionError when invalid."""
    body = expression_source[1:] if expression_source.startswith("=") else expression_source
    if len(body) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    if _CONSTRUCTOR.search(body):
        raise ExpressionError(f"expression {body[:80]!r} contains a constructor access")
    chunks: list[tuple[str, str | Node]] = []
    for kind, text in _split(body):
        if kind == "text":
            chunks.append(("text", text))
        else:
            code = f"({text})" if text.lstrip().startswith("{") else text
            chunks.append(("code", parse_code(code)))
    return Template(body, chunks)


def is_expression(value: object) -> bool:
    """Tell whether ``value`` is an n8n expression (a string starting with ``=`` that is not a ``Literal``)."""
    return isinstance(value, str) and value.startswith("=") and not isinstance(value, Literal)


def find_expressions(obj: object) -> Iterator[str]:
    """Yield every expression string found anywhere in nested dicts and lists."""
    if is_expression(obj):
        yield obj  # type: ignore[misc]
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from find_expressions(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from find_expressions(v)


def _block(evaluator: Evaluator, node: Node) -> object:
    try:
        return evaluator.run(node)
    except (JSThrow, RecursionError):
        return UNDEFINED


def _to_python(value: object) -> object:
    if isinstance(value, float):
        return normalize_number(value)
    if isinstance(value, JSDate):
        return value.as_datetime()
    if isinstance(value, JSFunction):
        raise ExpressionError("expression result is a function: call it with ()")
    return value


def evaluate(value: Any, *, credentials: Mapping[str, Any] | None = None,
             self: Mapping[str, Any] | None = None) -> Any:
    """Resolve ``value`` as n8n does: templates are evaluated, anything else is returned unchanged."""
    if not is_expression(value):
        return value
    template = parse(value)
    variables = {"$credentials": credentials if credentials is not None else {},
                 "$self": self if self is not None else {}}
    shared = active_budget()  # inside shared_budget(): the scope's budget, else one for this evaluation
    if shared is not None:
        return _render(template, Evaluator(variables, shared))
    budget = Budget()
    with running(budget):
        return _render(template, Evaluator(variables, budget))


def _render(template: Template, evaluator: Evaluator) -> Any:
    if template.single:
        return _to_python(_block(evaluator, template.chunks[1][1]))  # type: ignore[arg-type]
    out: list[str] = []
    for kind, part in template.chunks:
        if kind == "text":
            out.append(part)  # type: ignore[arg-type]
            continue
        v = _block(evaluator, part)  # type: ignore[arg-type]
        if isinstance(v, JSFunction):
            raise ExpressionError("expression result is a function: call it with ()")
        if is_truthy(v) or v is False or (isinstance(v, (int, float)) and v == 0):
            out.append(to_js_string(v))
    return "".join(out)
