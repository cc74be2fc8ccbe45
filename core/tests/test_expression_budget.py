"""The evaluation budget: regex matching under a timeout that releases the GIL, replacement expansion charged
before it is built, and the worst cases the adversarial review found."""

from __future__ import annotations

import threading
import time
import tracemalloc

import pytest
from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions import MAX_STRING_LENGTH, MAX_WORK, evaluate


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("expression", "expected"), [
    ("={{ /" + "a?" * 30 + "a" * 30 + "/.test('a'.repeat(30)) }}", True),
    ("={{ /" + "a{0,10}" * 12 + "b/.test('a'.repeat(120)) }}", False),
    ("={{ /(a+)+$/.test('aaaa') }}", True),
    ("={{ 'a.b.c'.replace(/(\\w+\\.)+/, '') }}", "c"),
])
def test_patterns_the_old_static_guard_hung_on_or_refused_now_answer_like_javascript(
    expression: str, expected: object
) -> None:
    assert evaluate(expression) == expected


@pytest.mark.timeout(20)
@pytest.mark.parametrize("expression", [
    "={{ /(a|aa)+c/.test('a'.repeat(60)) }}",
    "={{ /(.*?,){11}P/.test('1,'.repeat(30)) }}",
    "={{ '1,'.repeat(30).replace(/(.*?,){11}P/g, 'x') }}",
    "={{ '1,'.repeat(30).split(/(.*?,){11}P/) }}",
])
def test_catastrophic_backtracking_ends_with_expression_error_while_other_threads_run(expression: str) -> None:
    ticks = 0
    done = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            time.sleep(0.001)
            ticks += 1

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        with pytest.raises(ExpressionError, match="time budget"):
            evaluate(expression)
        during = ticks
    finally:
        done.set()
        thread.join()
    # the match ran for the whole time budget; a GIL held through it would have left the ticker at ~0
    assert during >= 20


@pytest.mark.parametrize("expression", [
    "={{ 'a'.repeat(20000).replaceAll('a', \"$'\") }}",
    "={{ 'a'.repeat(20000).replaceAll('a', '$`') }}",
    "={{ 'a'.repeat(2000).replace(/a/g, \"$'$'$'$'$'$'$'$'\") }}",
    "={{ 'a'.repeat(2000).replace(/a/g, '$&'.repeat(600)) }}",
    "={{ [" + ",".join(["$credentials.big"] * 40) + "] + '' }}",
])
def test_replacement_and_join_amplification_is_refused_before_the_memory_is_allocated(expression: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match=r"longer than|work budget"):
            evaluate(expression, credentials={"big": "b" * 50_000})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_STRING_LENGTH * 4  # a few result-sized strings at most, never the full expansion


def test_expansion_within_the_limits_is_exact() -> None:
    assert evaluate("={{ 'abc'.replace(/b/, \"[$`|$&|$']\") }}") == "a[a|b|c]c"
    assert evaluate("={{ 'abc'.replaceAll('b', \"$'$`\") }}") == "acac"
    assert evaluate("={{ 'x'.repeat(100).replace(/x/g, '$&$&').length }}") == 200


def test_work_budget_counts_expansions_across_a_chain() -> None:
    from fluxnex.n8n.expressions._budget import Budget, running

    step = "'a'.repeat(999).replace(/a/g, '$&'.repeat(1000))"
    # A time budget no machine spends here: on a slow or loaded one the 0.5 s budget (tested on its own above)
    # could otherwise end the chain before the work budget this test is about.
    with running(Budget(seconds=120)), pytest.raises(ExpressionError, match=r"work budget|longer than"):
        evaluate("={{ [" + ",".join([step] * (MAX_WORK // 999_000 + 2)) + "] }}")


def test_resolving_a_connection_shares_one_budget_across_its_fields() -> None:
    from fluxnex.contract.schema import CredentialType
    from fluxnex.n8n.authenticate import effective_data
    from fluxnex.n8n.expressions import MAX_STEPS, Expression

    heavy = "={{ [" + "1," * (MAX_STEPS // 3) + "1].length }}"  # a third of the steps: fine on its own
    assert evaluate(heavy) == MAX_STEPS // 3 + 1
    fields = [f"f{i}" for i in range(4)]
    ct = CredentialType.from_n8n({"name": "manyFields", "displayName": "Many", "properties": [
        {"displayName": f, "name": f, "type": "string", "default": ""} for f in fields]})
    assert effective_data(ct, {"f0": Expression(heavy)}, oauth=False)["f0"] == MAX_STEPS // 3 + 1
    with pytest.raises(ExpressionError, match="evaluation steps"):  # 4 fields, resolved twice: one budget
        effective_data(ct, {f: Expression(heavy) for f in fields}, oauth=False)
