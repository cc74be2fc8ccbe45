"""JavaScript replacement strings (``$$ $& $` $' $n $<name>``), parsed once and charged before expansion.

The size of each expansion is computed from the match before any text is built, and charged to the
evaluation's budget (:mod:`fluxnex.n8n.expressions._budget`) and to the result's length limit: a short
replacement such as ``"$'$'"`` over a long subject fails at once instead of allocating gigabytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions._budget import Budget, current_budget
from fluxnex.n8n.expressions._limits import MAX_STRING_LENGTH

__all__ = ["Output", "Replacement"]


class Output:
    """The running size of one replacement result, checked and charged before each piece is made."""

    __slots__ = ("budget", "size")

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget if budget is not None else current_budget()
        self.size = 0

    def reserve(self, size: int) -> None:
        """Account for ``size`` more characters of the result, or raise before they exist."""
        self.size += size
        if self.size > MAX_STRING_LENGTH:
            raise ExpressionError(f"expression produced a string longer than {MAX_STRING_LENGTH}")
        self.budget.charge(size)


class Replacement:
    """A replacement template split into literal text and references, for one pattern's groups."""

    __slots__ = ("after", "before", "groups", "literal", "matched", "ops")

    def __init__(self, template: str, groups: int = 0, groupindex: Mapping[str, int] | None = None) -> None:
        ops: list[tuple[str, Any]] = []
        i, n = 0, len(template)
        while i < n:
            dollar = template.find("$", i)
            if dollar < 0 or dollar + 1 >= n:
                ops.append(("text", template[i:]))
                break
            if dollar > i:
                ops.append(("text", template[i:dollar]))
            i = dollar
            e = template[i + 1]
            two = template[i + 1:i + 3]
            if e == "$":
                ops.append(("text", "$"))
                i += 2
            elif e in "&`'":
                ops.append((e, None))
                i += 2
            elif e.isdigit() and groups:
                if len(two) == 2 and two.isdigit() and 1 <= int(two) <= groups:
                    ops.append(("group", int(two)))
                    i += 3
                elif 1 <= int(e) <= groups:
                    ops.append(("group", int(e)))
                    i += 2
                else:
                    ops.append(("text", "$"))
                    i += 1
            elif e == "<" and groupindex:
                end = template.find(">", i)
                if end < 0:
                    ops.append(("text", "$"))
                    i += 1
                else:
                    name = template[i + 2:end]
                    ops.append(("group", name) if name in groupindex else ("text", ""))
                    i = end + 1
            else:
                ops.append(("text", "$"))
                i += 1
        self.ops = ops
        self.literal = sum(len(v) for k, v in ops if k == "text")
        self.matched = sum(1 for k, _ in ops if k == "&")
        self.before = sum(1 for k, _ in ops if k == "`")
        self.after = sum(1 for k, _ in ops if k == "'")
        self.groups = [v for k, v in ops if k == "group"]

    def expand(self, m: Any, matched: str, pos: int, subject: str, out: Output) -> str:
        """The replacement for one match at ``pos`` (``m`` is None for a string pattern)."""
        tail = max(len(subject) - pos - len(matched), 0)
        size = self.literal + self.matched * len(matched) + self.before * pos + self.after * tail
        if self.groups:
            size += sum(len(m.group(g) or "") for g in self.groups)
        out.reserve(size)  # before a single character is built
        parts: list[str] = []
        for kind, value in self.ops:
            if kind == "text":
                parts.append(value)
            elif kind == "&":
                parts.append(matched)
            elif kind == "`":
                parts.append(subject[:pos])
            elif kind == "'":
                parts.append(subject[pos + len(matched):])
            else:
                parts.append(m.group(value) or "")
        return "".join(parts)
