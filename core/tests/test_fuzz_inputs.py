"""Property tests: every generated input either succeeds or raises a FluxnexError, within a time and memory
bound, and a failure leaves the row count unchanged. Bounded example counts keep them fast enough for CI."""

from __future__ import annotations

import os
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.api.n8n_import import import_export
from fluxnex.contract.errors import FluxnexError
from fluxnex.n8n.expressions import MAX_STRING_LENGTH, evaluate
from fluxnex.storage.crypto import generate_key_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_fixtures import *  # noqa: F403 - fixtures

EXAMPLES = int(os.environ.get("FLUXNEX_FUZZ_EXAMPLES", "40"))  # raise it locally to search harder
DB_SETTINGS = settings(max_examples=EXAMPLES, deadline=10_000, derandomize=EXAMPLES == 40,
                       suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TYPES = ["httpHeaderAuth", "httpBasicAuth", "httpQueryAuth", "oAuth2Api", "noSuchTypeApi"]
FIELDS = ["name", "value", "user", "password", "clientId", "clientSecret", "accessTokenUrl", "grantType",
          "oauthTokenData", "$expressions", "allowedHttpRequestDomains", "allowedDomains", "unknownField",
          "new\nline", "esc\x1b[2J"]

# every kind of text: NUL, controls, lone surrogates, astral characters, and strings that look like expressions
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20),
    st.sampled_from(["", "=", "={{", "={{ 1 }}", "=MyPa55{{word", "={{ $self.name }}", "\x00", "\ud800",
                     "all", "domains", "none", "*.example.com", "clientCredentials"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), texts)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(texts, inner, max_size=4), max_leaves=12)
connection_data = st.dictionaries(st.one_of(st.sampled_from(FIELDS), texts), values, max_size=8)
cases = st.one_of(
    st.tuples(st.sampled_from(TYPES), connection_data),
    st.tuples(st.just("httpHeaderAuth"), st.fixed_dictionaries({"name": texts, "value": texts})),  # mostly valid
)


@pytest.fixture
def mgr(store_url: str) -> Iterator[CredentialManager]:
    manager = CredentialManager(store_url, generate_key_line("k1"))
    yield manager
    manager.close()


def _rows(mgr: CredentialManager) -> int:
    return sum(mgr.store.count_by_status().values())


@DB_SETTINGS
@given(case=cases, name=texts)
def test_any_connection_data_and_name_succeed_or_fail_cleanly(
    mgr: CredentialManager, case: tuple[str, dict[str, Any]], name: str
) -> None:
    type_name, data = case
    tenant = uuid.uuid4()
    before = _rows(mgr)
    try:
        mgr.create_connection(tenant, type_name, name, data)
    except FluxnexError as exc:
        assert "\n" not in str(exc) and _rows(mgr) == before
        return
    assert _rows(mgr) == before + 1
    got = mgr.get_connection(tenant, name)  # what was stored reads back
    assert isinstance(got, dict)
    try:
        mgr.update_connection(tenant, name, data, new_name=name + "-2")
    except FluxnexError:
        assert mgr.get_connection(tenant, name) == got  # a failed update changed nothing
    assert _rows(mgr) == before + 1


entries = st.fixed_dictionaries(
    {"name": texts, "type": st.sampled_from(TYPES), "data": connection_data},
    optional={"id": st.one_of(st.integers(), texts)},
)
exports = st.lists(st.one_of(entries, values), max_size=6)


@DB_SETTINGS
@given(export=exports)
def test_any_n8n_export_imports_or_fails_cleanly(mgr: CredentialManager, export: list[Any]) -> None:
    tenant = uuid.uuid4()
    before = _rows(mgr)
    try:
        report = import_export(mgr, tenant, export)
    except FluxnexError as exc:
        assert "\n" not in str(exc) and _rows(mgr) == before
        return
    assert _rows(mgr) == before + len(report.imported)
    assert len(report.imported) + len(report.skipped) == len(export)


# expressions: fragments that combine into catastrophic patterns, amplifying replacements and deep nesting
FRAGMENTS = [
    "'a'", "'ab'", "$credentials.s", "$self.x", "1e9", "-1", "NaN", "(", ")", "[", "]", " + ", ".length",
    ".repeat(1000)", ".repeat(1e6)", ".padStart(5000)", ".split('')", ".join('$$')", ".toUpperCase()",
    ".replace(/a/g, \"$'$'\")", ".replace(/a/g, '$`$&')", ".replaceAll('a', \"$'\")", ".split(/(a|aa)+c/)",
    ".replace(/(a+)+$/, 'x')", ".match", "/(.*?,){11}P/.test('1,'.repeat(30))", "/a?a?a?a?aaa/.test(",
    "new RegExp('(a|aa)*$')", ".concat(", ", ", "? 1 : 2", " === ", "!", "typeof ", "`${", "}`", "{", "}",
]
expressions = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14).map(lambda p: "={{ " + "".join(p) + " }}")


@settings(max_examples=EXAMPLES * 8, deadline=5_000, derandomize=EXAMPLES == 40,
          suppress_health_check=[HealthCheck.too_slow])
@given(expression=st.one_of(expressions, texts.map(lambda t: "=" + t)))
def test_any_expression_evaluates_or_raises_an_expression_error_within_bounds(expression: str) -> None:
    tracemalloc.start()
    try:
        try:
            evaluate(expression, credentials={"s": "a" * 2000}, self={"x": "1,2"})
        except FluxnexError as exc:
            assert "\n" not in str(exc)[:500]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * MAX_STRING_LENGTH  # a few result-sized strings at most
