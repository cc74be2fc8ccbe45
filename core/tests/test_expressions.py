"""Unit tests of fluxnex.expressions: JavaScript semantics, n8n template rules, errors and limits."""

from __future__ import annotations

import math
import time

import pytest
from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions import (
    MAX_STRING_LENGTH,
    UNDEFINED,
    evaluate,
    find_expressions,
    is_expression,
    is_truthy,
    parse,
    to_js_string,
)

CREDS = {"port": 5, "f": 1.5, "z": 0, "s": "a-b-c", "e": "", "t": True, "nul": None, "arr": [1, None, "x"],
         "obj": {"k": "v"}, "url": "https://x.io//", "region": "cn-north-1", "apiKey": "abc-us6"}


def ev(expr: str, **creds: object) -> object:
    return evaluate(expr, credentials={**CREDS, **creds}, self={"tenantId": " t1 ", "grantType": "x"})


def test_non_expressions_are_returned_unchanged() -> None:
    for value in ("plain", 5, None, {"a": "={{1}}"}, ""):
        assert evaluate(value) is value or evaluate(value) == value
    assert is_expression("={{1}}") and not is_expression("{{1}}") and not is_expression(3)


@pytest.mark.parametrize(("expr", "expected"), [
    ("={{$credentials.port}}", 5),
    ("={{$credentials.t}}", True),
    ("={{$credentials.nul}}", None),
    ("={{$credentials.arr}}", [1, None, "x"]),
    ("=:{{$credentials.port}}", ":5"),
    ("=a{{$credentials.nul}}b{{$credentials.missing}}c{{$credentials.z}}{{$credentials.t}}", "abc0true"),
    ("=a{{$credentials.arr}}{{$credentials.obj}}", "a1,,x[object Object]"),
    ("=", ""),
    ("=no braces", "no braces"),
])
def test_template_rules(expr: str, expected: object) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize(("expr", "expected"), [
    ("={{ 1 + 1 }}", 2), ("={{ 1 + '1' }}", "11"), ("={{ '3' * '4' }}", 12), ("={{ 7 % 3 }}", 1),
    ("={{ 1 / 4 }}", 0.25), ("={{ 10 - 2 - 3 }}", 5), ("={{ 2 + 3 * 4 }}", 14), ("={{ (2 + 3) * 4 }}", 20),
    ("={{ 1 + null }}", 1), ("={{ true + 1 }}", 2), ("={{ 'a' + [1, 2] }}", "a1,2"), ("={{ -'2' }}", -2),
    ("={{ 1 === 1.0 }}", True), ("={{ 1 === '1' }}", False), ("={{ 1 == '1' }}", True),
    ("={{ null == undefined }}", True), ("={{ null === undefined }}", False), ("={{ 0 == '' }}", True),
    ("={{ 1 != '1' }}", False), ("={{ 1 !== '1' }}", True), ("={{ '10' < '9' }}", True),
    ("={{ 10 < '9' }}", False), ("={{ 2 <= 2 }}", True), ("={{ 3 > 2 }}", True), ("={{ 'b' >= 'a' }}", True),
    ("={{ $credentials.z || 'd' }}", "d"), ("={{ $credentials.z ?? 'd' }}", 0),
    ("={{ $credentials.e && 1 }}", ""),
    ("={{ $credentials.missing ?? 'd' }}", "d"), ("={{ !$credentials.e }}", True), ("={{ !!'0' }}", True),
    ("={{ $credentials.t ? 'y' : 'n' }}", "y"), ("={{ typeof $credentials.port }}", "number"),
    ("={{ $credentials['s'] }}", "a-b-c"), ("={{ $credentials?.s }}", "a-b-c"),
    ("={{ $credentials.missing?.deep.deeper }}", UNDEFINED), ("={{ $credentials.obj?.['k'] }}", "v"),
    ("={{ `https://sts.${$credentials.region}.x` }}", "https://sts.cn-north-1.x"),
    ("={{ [1, 'a', null] }}", [1, "a", None]), ("={{ ({a: 1, 'b': [2]}).b[0] }}", 2),
    ("={{ 'it\\'s' + \"\\u0041\\n\" }}", "it'sA\n"), ("={{ 0x10 + 1e2 + .5 }}", 116.5),
])
def test_operators_and_literals(expr: str, expected: object) -> None:
    result = ev(expr)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("expr", "expected"), [
    ("={{$credentials.apiKey.split('-').pop()}}", "us6"),
    ("={{$credentials.s.split('-', 2)}}", ["a", "b"]),
    ("={{$credentials.s.split(/(-)/)}}", ["a", "-", "b", "-", "c"]),
    ("={{$credentials.s.split('')}}", ["a", "-", "b", "-", "c"]),
    ("={{$credentials.url.replace(/\\/+$/, '')}}", "https://x.io"),
    ("={{$credentials.url.replace(new RegExp('/$'), '')}}", "https://x.io/"),
    ("={{$credentials.s.replace('-', '_')}}", "a_b-c"),
    ("={{$credentials.s.replace(/-/g, '_')}}", "a_b_c"),
    ("={{$credentials.s.replace(/(\\w)-/g, '[$1]$$')}}", "[a]$[b]$c"),
    ("={{$credentials.s.replaceAll('-', '')}}", "abc"),
    ("={{'{x}.{x}'.replace(/\\{x\\}/g, 'y')}}", "y.y"),
    ("={{' a '.trim() + '|'}}", "a|"), ("={{'Ab'.toLowerCase() + 'Ab'.toUpperCase()}}", "abAB"),
    ("={{$credentials.region.startsWith('cn-')}}", True), ("={{'abc/'.endsWith('/')}}", True),
    ("={{'abc'.includes('bc')}}", True), ("={{'abc'.slice(0, -1)}}", "ab"), ("={{'abc'.slice(-2)}}", "bc"),
    ("={{'abcd'.substring(3, 1)}}", "bc"), ("={{'abc'.indexOf('c')}}", 2), ("={{'abc'.length}}", 3),
    ("={{'ab'.padStart(4, '*')}}", "**ab"), ("={{'ab'.repeat(2)}}", "abab"), ("={{'abc'[1]}}", "b"),
    ("={{'a b'.split(' ').includes('b')}}", True), ("={{[1, 2].join('+')}}", "1+2"),
    ("={{[1, 2, 3].slice(1)}}", [2, 3]), ("={{[1, 2].indexOf(2)}}", 1),
    ("={{String(1.5) + String(true) + String(null)}}", "1.5truenull"), ("={{Number(' 12 ')}}", 12),
    ("={{encodeURIComponent('a b&c/é')}}", "a%20b%26c%2F%C3%A9"), ("={{parseInt('42px')}}", 42),
    ("={{(5).toString()}}", "5"),
])
def test_methods(expr: str, expected: object) -> None:
    assert ev(expr) == expected


def test_number_to_string_follows_javascript() -> None:
    assert [to_js_string(x) for x in (1, 1.0, 1.5, -0.0, 1e21, 123e-20, 0.000001, 1e-7, 100.0, math.nan,
                                      math.inf, 0.1 + 0.2, 2**53)] == [
        "1", "1", "1.5", "0", "1e+21", "1.23e-18", "0.000001", "1e-7", "100", "NaN", "Infinity",
        "0.30000000000000004", "9007199254740992"]
    assert to_js_string(True) == "true" and to_js_string(None) == "null"
    assert to_js_string(UNDEFINED) == "undefined"
    assert not any(is_truthy(v) for v in (0, 0.0, "", None, UNDEFINED, math.nan, False))
    assert all(is_truthy(v) for v in ("0", [], {}, -1, "false"))


def test_runtime_errors_yield_undefined_like_n8n() -> None:
    assert ev("={{$credentials.missing.deep}}") is UNDEFINED
    assert ev("={{$credentials.s.nope()}}") is UNDEFINED
    assert ev("=a{{$credentials.missing.deep}}b") == "ab"
    assert ev("={{ unknownGlobal }}") is UNDEFINED


def test_new_date_to_utc_string() -> None:
    result = ev("={{ new Date().toUTCString() }}")
    assert isinstance(result, str) and result.endswith(" GMT") and str(time.gmtime().tm_year) in result


@pytest.mark.parametrize("bad", ["={{ 1 + }}", "={{ 'unterminated }}", "={{ a = 1 }}", "={{ function() {} }}",
                                 "={{ x => 1 }}", "={{ [1, 2 }}", "={{ $credentials.constructor }}",
                                 "={{ a; b }}", "={{ }}", "={{ /(a)\\1/ }}"])
def test_syntax_errors_raise_expression_error_naming_the_expression(bad: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(bad)
    with pytest.raises(ExpressionError):
        parse(bad)


def test_no_python_attribute_access() -> None:
    for expr in ("={{ $credentials.__class__ }}", "={{ 'a'.__class__ }}", "={{ 'a'.format }}",
                 "={{ $credentials.s.__len__ }}", "={{ __import__ }}", "={{ [].append }}"):
        assert evaluate(expr, credentials=CREDS) is UNDEFINED


def _fails_fast(expr: str, **creds: object) -> None:
    start = time.monotonic()
    with pytest.raises(ExpressionError):
        evaluate(expr, credentials=creds)
    assert time.monotonic() - start < 2  # safety net, not a benchmark


@pytest.mark.parametrize("expr", [
    "={{ 'a'.repeat(1e9) }}",
    "={{ 'a'.padStart(1e9) }}",
    "={{ 'x'.repeat(200000).split('') }}",
    "={{ " + "(" * 200 + "1" + ")" * 200 + " }}",
    "={{ " + "!" * 500 + "1 }}",
    "={{ " + " + ".join(["'ab'"] * 2000) + " }}",
    "={{ '" + "a" * 20000 + "' }}",
    "={{ /(a+)+$/.test($credentials.s) }}",
    "={{ $credentials.s.replace(new RegExp('(a|aa)*$'), '') }}",
    "={{ $credentials.s.replace(/a*a*a*$/, '') }}",
    "={{ $credentials.big.replace(/a*$/, '') }}",
    "={{ 'a'.repeat(900000) + 'a'.repeat(900000) }}",
    "={{ [" + ",".join(["'a'.repeat(900000)"] * 20) + "] }}",
])
def test_hostile_expressions_fail_fast(expr: str) -> None:
    _fails_fast(expr, s="a" * 5000 + "!", big="a" * 50_000)


def test_single_quantifier_regex_on_the_largest_input_is_quick() -> None:
    start = time.monotonic()
    assert evaluate("={{ ' '.repeat(1999).concat('!').replace(/ *$/, '').length }}") == 2000
    assert time.monotonic() - start < 2


def test_string_limit_is_documented_constant() -> None:
    assert len(evaluate(f"={{{{ 'a'.repeat({MAX_STRING_LENGTH}) }}}}")) == MAX_STRING_LENGTH


def test_find_expressions() -> None:
    data = {"a": "={{1}}", "b": ["x", {"c": "=y"}], "d": 3}
    assert list(find_expressions(data)) == ["={{1}}", "=y"]
