"""JavaScript regular expressions translated to the ``regex`` package, matched under the evaluation's budget.

Every match, search, substitution and split runs with the current evaluation's remaining wall time as the
``regex`` timeout (see :mod:`fluxnex.n8n.expressions._budget`): a pattern that backtracks catastrophically ends
with ``ExpressionError`` when the budget is spent, and because ``regex`` releases the GIL while it matches a
``str``, other threads keep running meanwhile. Patterns longer than MAX_REGEX_SOURCE and subjects longer than
MAX_REGEX_INPUT are refused; backreferences and lookbehind are refused because their JavaScript semantics
differ (a backreference to a group that did not take part matches the empty string in JavaScript).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import regex

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions._budget import current_budget
from fluxnex.n8n.expressions._limits import MAX_REGEX_INPUT, MAX_REGEX_SOURCE

_WS_CLASS = r"\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": _WS_CLASS}
_SIMPLE_ESCAPES = {"n": r"\n", "t": r"\t", "r": r"\r", "f": r"\f", "v": r"\x0b", "0": r"\x00"}


class JSRegExp:
    """A compiled JavaScript regular expression: ``source``, ``flags`` and the Python pattern."""

    __slots__ = ("flags", "is_global", "pattern", "source")

    def __init__(self, source: str, flags: str) -> None:
        self.source = source
        self.flags = flags
        self.is_global = "g" in flags
        self.pattern = _compile(source, flags)

    def check_subject(self, subject: str) -> None:
        """Refuse subjects too long to match."""
        if len(subject) > MAX_REGEX_INPUT:
            raise ExpressionError(f"regular expression input longer than {MAX_REGEX_INPUT} characters")

    def search(self, subject: str) -> Any:
        """``pattern.search`` under the budget's remaining time."""
        self.check_subject(subject)
        return _timed(lambda t: self.pattern.search(subject, timeout=t))

    def match(self, subject: str) -> Any:
        """``pattern.match`` under the budget's remaining time."""
        self.check_subject(subject)
        return _timed(lambda t: self.pattern.match(subject, timeout=t))

    def sub(self, repl: Callable[[Any], str], subject: str, count: int) -> str:
        """``pattern.sub`` under the budget's remaining time (``repl`` charges what it produces)."""
        self.check_subject(subject)
        result: str = _timed(lambda t: self.pattern.sub(repl, subject, count=count, timeout=t))
        return result

    def finditer(self, subject: str) -> Iterator[Any]:
        """``pattern.finditer`` under the budget's remaining time."""
        self.check_subject(subject)
        return iter(_timed(lambda t: list(self.pattern.finditer(subject, timeout=t))))


def _timed(run: Callable[[float], Any]) -> Any:
    budget = current_budget()
    try:
        return run(budget.remaining())
    except TimeoutError:
        raise ExpressionError("regular expression exceeded the expression's time budget") from None


def _bad(source: str, why: str) -> ExpressionError:
    shown = source if source.isprintable() else repr(source)[1:-1]  # one line, whatever the pattern holds
    reason = " ".join(why.split())
    return ExpressionError(f"unsupported regular expression /{shown}/: {reason}")


def _compile(source: str, flags: str) -> Any:
    if len(source) > MAX_REGEX_SOURCE:
        raise _bad(source[:40] + "...", f"longer than {MAX_REGEX_SOURCE} characters")
    for f in flags:
        if f not in "gims" or flags.count(f) > 1:
            raise _bad(source, f"flag {f!r} is not supported")
    py = _translate(source, dotall="s" in flags, multiline="m" in flags)
    opts = regex.VERSION0 | regex.ASCII | (regex.IGNORECASE if "i" in flags else 0)
    opts |= regex.MULTILINE if "m" in flags else 0
    try:
        return regex.compile(py, opts)
    except regex.error as exc:
        raise _bad(source, str(exc)) from None


def _translate(src: str, *, dotall: bool, multiline: bool) -> str:
    """Translate JS pattern syntax to the ``regex`` package's (Python-compatible) syntax."""
    out: list[str] = []
    depth = 0
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            if i + 1 >= n:
                raise _bad(src, "trailing backslash")
            e = src[i + 1]
            i += 2
            if (e.isdigit() and e != "0") or e == "k":
                raise _bad(src, "backreferences are not supported")
            if e in "dws":
                out.append(f"[{_CLASS_ESCAPES[e]}]")
            elif e in "DWS":
                out.append(f"[^{_CLASS_ESCAPES[e.lower()]}]")
            elif e in "bB":
                out.append("\\" + e)
            elif e in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[e])
            elif e in "xu":
                width = 2 if e == "x" else 4
                hexpart = src[i:i + width]
                if len(hexpart) == width and all(h in "0123456789abcdefABCDEF" for h in hexpart):
                    out.append(re.escape(chr(int(hexpart, 16))))
                    i += width
                else:
                    out.append(re.escape(e))
            else:
                out.append(re.escape(e))
        elif c == "[":
            j = i + 1
            body: list[str] = []
            if j < n and src[j] == "^":
                body.append("^")
                j += 1
            while j < n and src[j] != "]":
                if src[j] == "\\" and j + 1 < n:
                    e = src[j + 1]
                    if e in _CLASS_ESCAPES:
                        body.append(_CLASS_ESCAPES[e])
                    elif e in "DWS":
                        raise _bad(src, "negated class escapes inside [] are not supported")
                    elif e in _SIMPLE_ESCAPES:
                        body.append(_SIMPLE_ESCAPES[e])
                    elif e == "b":
                        body.append(r"\x08")
                    else:
                        body.append(re.escape(e))
                    j += 2
                else:
                    body.append("\\[" if src[j] == "[" else src[j])
                    j += 1
            if j >= n:
                raise _bad(src, "unterminated character class")
            if not body:
                out.append("(?!)")
            elif body == ["^"]:
                out.append("[\\s\\S]")
            else:
                out.append("[" + "".join(body) + "]")
            i = j + 1
        elif c == "(":
            if src.startswith("(?<=", i) or src.startswith("(?<!", i):
                raise _bad(src, "lookbehind is not supported")
            if src.startswith("(?<", i):
                out.append("(?P<")
                i += 3
            elif src.startswith("(?:", i) or src.startswith("(?=", i) or src.startswith("(?!", i):
                out.append(src[i:i + 3])
                i += 3
            elif src.startswith("(?", i):
                raise _bad(src, "unsupported group syntax")
            else:
                out.append("(")
                i += 1
            depth += 1
            continue
        elif c == ")":
            if depth == 0:
                raise _bad(src, "unbalanced parenthesis")
            depth -= 1
            out.append(")")
            i += 1
            continue
        elif c == "|":
            out.append("|")
            i += 1
            continue
        elif c in "*+?" or (c == "{" and re.match(r"\{\d+(,\d*)?\}", src[i:])):
            if c == "{":
                q = re.match(r"\{(\d+)(,(\d*))?\}", src[i:])
                assert q is not None
                token = q.group(0)
                lo = int(q.group(1))
                hi = None if q.group(2) and not q.group(3) else int(q.group(3) or q.group(1))
                if (hi or lo) > 1000:
                    raise _bad(src, "repetition count above 1000")
            else:
                token = c
            i += len(token)
            if i < n and src[i] == "?":
                token += "?"
                i += 1
            out.append(token)
            continue
        elif c == "^":
            out.append("^")
            i += 1
        elif c == ".":
            out.append("[\\s\\S]" if dotall else "[^\\n\\r\\u2028\\u2029]")
            i += 1
        elif c == "$":
            out.append("(?=[\\n\\r\\u2028\\u2029]|\\Z)" if multiline else "\\Z")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    if depth != 0:
        raise _bad(src, "unbalanced parenthesis")
    return "".join(out)
