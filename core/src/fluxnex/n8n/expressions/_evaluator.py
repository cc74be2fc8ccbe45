"""Tree-walking evaluator with JavaScript semantics, a whitelist of methods and resource budgets."""

from __future__ import annotations

import math
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions._budget import Budget
from fluxnex.n8n.expressions._jsvalues import (
    UNDEFINED,
    JSDate,
    JSFunction,
    compare,
    is_number,
    is_truthy,
    loose_equals,
    normalize_number,
    strict_equals,
    to_js_string,
    to_number,
    typeof,
)
from fluxnex.n8n.expressions._methods import ARRAY_METHODS, STRING_METHODS, JSThrow, new_regexp
from fluxnex.n8n.expressions._regex import JSRegExp

Node = tuple[Any, ...]



class _ShortCircuit(Exception):
    """An optional chain met null or undefined."""


def _encode_uri_component(v: object) -> str:
    return urllib.parse.quote(to_js_string(v), safe="-_.!~*'()")


def _decode_uri_component(v: object) -> str:
    try:
        return urllib.parse.unquote(to_js_string(v), errors="strict")
    except UnicodeDecodeError:
        raise JSThrow("URIError: URI malformed") from None


def _parse_float(v: object) -> float:
    import re

    number = r"[+-]?(Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    m = re.match(number, to_js_string(v).lstrip())
    return to_number(m.group(0)) if m else math.nan


def _parse_int(v: object, radix: object = UNDEFINED) -> float:
    s = to_js_string(v).strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    base = int(to_number(radix)) if radix is not UNDEFINED and is_truthy(to_number(radix)) else 10
    if (radix is UNDEFINED or base == 16) and s[:2].lower() == "0x":
        s, base = s[2:], 16
    if not 2 <= base <= 36:
        return math.nan
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"[:base]
    n = 0
    while n < len(s) and s[n].lower() in digits:
        n += 1
    return sign * float(int(s[:n], base)) if n else math.nan


GLOBALS: Final[dict[str, JSFunction]] = {
    name: JSFunction(name, impl) for name, impl in {
        "String": lambda v=UNDEFINED, *_: "" if v is UNDEFINED else to_js_string(v),
        "Number": lambda v=0, *_: to_number(v),
        "Boolean": lambda v=UNDEFINED, *_: is_truthy(v),
        "encodeURIComponent": lambda v=UNDEFINED, *_: _encode_uri_component(v),
        "decodeURIComponent": lambda v=UNDEFINED, *_: _decode_uri_component(v),
        "parseInt": lambda v=UNDEFINED, r=UNDEFINED, *_: _parse_int(v, r),
        "parseFloat": lambda v=UNDEFINED, *_: _parse_float(v),
        "isNaN": lambda v=UNDEFINED, *_: math.isnan(to_number(v)),
    }.items()
}


class Evaluator:
    """Evaluate ASTs against the expression's variables (``$credentials``, ``$self``)."""

    def __init__(self, variables: Mapping[str, object], budget: Budget) -> None:
        self.variables = variables
        self.budget = budget

    def run(self, node: Node) -> object:
        """Evaluate one ``{{ }}`` block; JavaScript runtime errors propagate as JSThrow."""
        return self.eval(node)

    def eval(self, node: Node) -> object:
        self.budget.step()
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "id":
            name = node[1]
            if name in self.variables:
                return self.variables[name]
            return GLOBALS.get(name, UNDEFINED)
        if kind == "member":
            return self._member(node)
        if kind == "call":
            return self._call(node)
        if kind == "chain":
            try:
                return self.eval(node[1])
            except _ShortCircuit:
                return UNDEFINED
        if kind == "bin":
            return self._binary(node[1], self.eval(node[2]), self.eval(node[3]))
        if kind == "logic":
            left = self.eval(node[2])
            op = node[1]
            if op == "&&":
                return self.eval(node[3]) if is_truthy(left) else left
            if op == "||":
                return left if is_truthy(left) else self.eval(node[3])
            return self.eval(node[3]) if left is None or left is UNDEFINED else left
        if kind == "cond":
            return self.eval(node[2]) if is_truthy(self.eval(node[1])) else self.eval(node[3])
        if kind == "unary":
            value = self.eval(node[2])
            op = node[1]
            if op == "!":
                return not is_truthy(value)
            if op == "typeof":
                return typeof(value)
            x = to_number(value)
            return normalize_number(-x if op == "-" else x)
        if kind == "tmpl":
            out = [node[1][0]]
            for expr, text in zip(node[2], node[1][1:], strict=True):
                out.append(to_js_string(self.eval(expr)))
                out.append(text)
            result = "".join(out)
            self.budget.charge(len(result))
            return result
        if kind == "regex":
            return JSRegExp(node[1].source, node[1].flags)
        if kind == "arr":
            return [self.eval(item) for item in node[1]]
        if kind == "obj":
            return {key: self.eval(value) for key, value in node[1]}
        if kind == "new":
            args = [self.eval(a) for a in node[2]]
            if node[1] == "Date":
                return _new_date(args)
            return new_regexp(args)
        raise ExpressionError(f"unknown expression node {kind!r}")

    def _object_and_key(self, node: Node) -> tuple[object, object]:
        obj = self.eval(node[1])
        if node[4] and (obj is None or obj is UNDEFINED):
            raise _ShortCircuit
        key = self.eval(node[2]) if node[3] else node[2]
        return obj, key

    def _member(self, node: Node) -> object:
        obj, key = self._object_and_key(node)
        return get_property(obj, key)

    def _call(self, node: Node) -> object:
        callee_node = node[1]
        if callee_node[0] == "member":
            this, key = self._object_and_key(callee_node)
            fn = get_property(this, key)
        else:
            this, fn = UNDEFINED, self.eval(callee_node)
        if node[3] and (fn is None or fn is UNDEFINED):
            raise _ShortCircuit
        if not isinstance(fn, JSFunction):
            raise JSThrow("TypeError: not a function")
        args = [self.eval(a) for a in node[2]]
        is_method = callee_node[0] == "member" and fn.name.startswith(".")
        result = fn.impl(this, *args) if is_method else fn.impl(*args)
        if isinstance(result, (str, list)):
            self.budget.charge(len(result))
        elif isinstance(result, float):
            result = normalize_number(result)
        return result

    def _binary(self, op: str, a: object, b: object) -> object:
        if op == "+":
            pa = a if not isinstance(a, (list, dict, JSDate, JSRegExp, JSFunction)) else to_js_string(a)
            pb = b if not isinstance(b, (list, dict, JSDate, JSRegExp, JSFunction)) else to_js_string(b)
            if isinstance(pa, str) or isinstance(pb, str):
                sa, sb = to_js_string(pa), to_js_string(pb)
                self.budget.charge(len(sa) + len(sb))
                return sa + sb
            return normalize_number(to_number(pa) + to_number(pb))
        if op in ("-", "*", "/", "%"):
            x, y = to_number(a), to_number(b)
            return normalize_number(_arith(op, x, y))
        if op == "===":
            return strict_equals(a, b)
        if op == "!==":
            return not strict_equals(a, b)
        if op == "==":
            return loose_equals(a, b)
        if op == "!=":
            return not loose_equals(a, b)
        return compare(op, a, b)


def _arith(op: str, x: float, y: float) -> float:
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        if y == 0:
            if x == 0 or math.isnan(x):
                return math.nan
            return math.copysign(math.inf, x) * math.copysign(1, y)
        return x / y
    if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y):
        return math.nan
    if math.isinf(y):
        return x
    return math.fmod(x, y)


def _new_date(args: list[object]) -> JSDate:
    if not args:
        return JSDate(float(int(time.time() * 1000)))
    if len(args) == 1 and is_number(args[0]):
        return JSDate(float(int(to_number(args[0]))))
    if len(args) == 1 and isinstance(args[0], JSDate):
        return JSDate(args[0].ms)
    raise JSThrow("new Date(...) supports no argument or milliseconds only")


_DATE_METHODS: Final[dict[str, Callable[..., object]]] = {
    "toUTCString": lambda d, *_: d.to_utc_string(),
    "toGMTString": lambda d, *_: d.to_utc_string(),
    "toISOString": lambda d, *_: _iso_or_throw(d),
    "toJSON": lambda d, *_: d.to_iso_string(),
    "toString": lambda d, *_: d.to_string(),
    "getTime": lambda d, *_: d.ms,
    "valueOf": lambda d, *_: d.ms,
}


def _iso_or_throw(d: JSDate) -> str:
    iso = d.to_iso_string()
    if iso is None:
        raise JSThrow("RangeError: Invalid time value")
    return iso


def get_property(obj: object, key: object) -> object:
    """Return ``obj[key]`` for the whitelisted value kinds; other lookups give undefined or throw."""
    if obj is None or obj is UNDEFINED:
        raise JSThrow(f"TypeError: cannot read properties of {to_js_string(obj)}")
    name = key if isinstance(key, str) else to_js_string(key)
    if isinstance(obj, dict):
        value = obj.get(name, UNDEFINED)
        return value
    if isinstance(obj, str | list):  # strings and arrays index, measure and call methods alike
        if name == "length":
            return len(obj)
        if name.isdigit():
            i = int(name)
            return obj[i] if i < len(obj) else UNDEFINED
        method = (STRING_METHODS if isinstance(obj, str) else ARRAY_METHODS).get(name)
        return JSFunction("." + name, method) if method else UNDEFINED
    if isinstance(obj, JSDate):
        date_method = _DATE_METHODS.get(name)
        return JSFunction("." + name, date_method) if date_method else UNDEFINED
    if isinstance(obj, JSRegExp):
        if name == "source":
            return obj.source
        if name == "flags":
            return obj.flags
        if name == "global":
            return obj.is_global
        if name == "test":
            return JSFunction(".test", _regex_test)
        return UNDEFINED
    if is_number(obj) or isinstance(obj, bool):
        if name == "toString":
            return JSFunction(".toString", lambda this, *_: to_js_string(this))
        return UNDEFINED
    return UNDEFINED


def _regex_test(this: JSRegExp, subject: object = UNDEFINED, *_: object) -> bool:
    return this.search(to_js_string(subject)) is not None
