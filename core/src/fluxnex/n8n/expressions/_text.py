"""Strings that say whether they are n8n expressions, whatever they begin with."""

from __future__ import annotations

__all__ = ["Expression", "Literal"]


class Literal(str):
    """A string that is never evaluated, even when it begins with ``=`` (a user's literal value)."""

    __slots__ = ()

    def __str__(self) -> str:  # str(x) keeps the mark, so code that normalises values does not drop it
        return self


class Expression(str):
    """A value marked as an n8n expression (``fluxnex.Expression("={{ $self.host }}")``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return self
