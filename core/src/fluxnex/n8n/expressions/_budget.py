"""The budget of one evaluation: steps, wall time and characters produced, enforced inside the evaluator.

``Budget`` is created per ``evaluate()`` call and made current for its duration, so the string methods and
the regular-expression engine (which the evaluator calls without passing it) charge the same budget: a
replacement's ``$&``/`` $` ``/``$'`` expansion is charged before the text is built, and every regex match runs
with the evaluation's remaining wall time as its timeout.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions._limits import MAX_SECONDS, MAX_STEPS, MAX_STRING_LENGTH, MAX_WORK

__all__ = ["Budget", "active_budget", "current_budget", "running", "shared_budget"]

_TIME_CHECK_EVERY = 64


class Budget:
    """Counts evaluation steps and characters produced, and holds the deadline; ExpressionError past them."""

    __slots__ = ("deadline", "steps", "work")

    def __init__(self, seconds: float = MAX_SECONDS) -> None:
        self.steps = 0
        self.work = 0
        self.deadline = time.monotonic() + seconds

    def step(self) -> None:
        """Count one evaluated node (and look at the clock every few dozen)."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"expression exceeded {MAX_STEPS} evaluation steps")
        if self.steps % _TIME_CHECK_EVERY == 0:
            self.check_time()

    def check_time(self) -> None:
        """Raise once the wall-time budget is spent."""
        if time.monotonic() > self.deadline:
            raise ExpressionError(f"expression exceeded its time budget of {MAX_SECONDS} s")

    def remaining(self) -> float:
        """Seconds left (at least a millisecond, so a timeout argument is never zero or negative)."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ExpressionError(f"expression exceeded its time budget of {MAX_SECONDS} s")
        return max(left, 0.001)

    def charge(self, size: int) -> None:
        """Count ``size`` characters about to be produced (call before building them)."""
        if size > MAX_STRING_LENGTH:
            raise ExpressionError(f"expression produced a value longer than {MAX_STRING_LENGTH}")
        self.work += size
        if self.work > MAX_WORK:
            raise ExpressionError(f"expression exceeded its work budget of {MAX_WORK} characters")


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("fluxnex_expression_budget", default=None)


def current_budget() -> Budget:
    """The budget of the evaluation under way (a fresh one outside any evaluation, e.g. in unit tests)."""
    budget = _CURRENT.get()
    return budget if budget is not None else Budget()


@contextmanager
def running(budget: Budget) -> Iterator[Budget]:
    """Make ``budget`` current while the block runs."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def active_budget() -> Budget | None:
    """The budget of the evaluation or shared scope under way, or None."""
    return _CURRENT.get()


@contextmanager
def shared_budget() -> Iterator[Budget]:
    """Let every evaluation inside the block share one budget (the enclosing one, if a scope is open already).

    Resolving a connection's data evaluates each field (twice, as n8n does): sharing bounds the whole of it,
    not each field, so many hostile fields cost their caller MAX_SECONDS once, not once per field.
    """
    outer = _CURRENT.get()
    if outer is not None:
        yield outer
        return
    with running(Budget()) as budget:
        yield budget
