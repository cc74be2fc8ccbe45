"""JavaScript value semantics (undefined, String(), truthiness, ToNumber, equality) on Python values."""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import Decimal
from typing import Any, Final

from fluxnex.n8n.expressions._limits import MAX_STRING_LENGTH


class _Undefined:
    """The JavaScript ``undefined`` value (a singleton)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class JSDate:
    """A JavaScript Date: milliseconds since the epoch, rendered in UTC."""

    __slots__ = ("ms",)

    def __init__(self, ms: float) -> None:
        self.ms = ms

    def as_datetime(self) -> _dt.datetime | None:
        """Return the date as an aware UTC datetime, None when invalid."""
        if math.isnan(self.ms) or abs(self.ms) > 8.64e15:
            return None
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(milliseconds=self.ms)

    def to_utc_string(self) -> str:
        """Return Date.prototype.toUTCString()."""
        d = self.as_datetime()
        if d is None:
            return "Invalid Date"
        return f"{_WEEKDAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year:04d} {d:%H:%M:%S} GMT"

    def to_iso_string(self) -> str | None:
        """Return Date.prototype.toISOString(), None when the date is invalid."""
        d = self.as_datetime()
        if d is None:
            return None
        return f"{d.year:04d}-{d:%m-%dT%H:%M:%S}.{d.microsecond // 1000:03d}Z"

    def to_string(self) -> str:
        """Return Date.prototype.toString() in UTC."""
        d = self.as_datetime()
        if d is None:
            return "Invalid Date"
        return (f"{_WEEKDAYS[d.weekday()]} {_MONTHS[d.month - 1]} {d.day:02d} {d.year:04d} "
                f"{d:%H:%M:%S} GMT+0000 (Coordinated Universal Time)")


class JSFunction:
    """A callable JavaScript value exposed to expressions (a whitelisted global or bound method)."""

    __slots__ = ("impl", "name")

    def __init__(self, name: str, impl: Any) -> None:
        self.name = name
        self.impl = impl


def is_number(v: object) -> bool:
    """Tell whether ``v`` is a JavaScript number (int or float, not bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def typeof(v: object) -> str:
    """Return JavaScript ``typeof v``."""
    if v is UNDEFINED:
        return "undefined"
    if isinstance(v, bool):
        return "boolean"
    if is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, JSFunction):
        return "function"
    return "object"


def is_truthy(v: object) -> bool:
    """Return JavaScript truthiness (``Boolean(v)``)."""
    if v is UNDEFINED or v is None:
        return False
    if isinstance(v, bool):
        return v
    if is_number(v):
        return not (v == 0 or (isinstance(v, float) and math.isnan(v)))
    if isinstance(v, str):
        return v != ""
    return True


def number_to_string(x: float) -> str:
    """Return JavaScript ``String(x)`` for a number (shortest round-trip digits, JS exponent rules)."""
    if isinstance(x, int):
        if abs(x) < 10**21:
            return str(x)
        x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    _, digit_tuple, exp = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exp, int)
    k = len(digits)
    n = exp + len(digit_tuple)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mant = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mant}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def to_js_string(v: object) -> str:
    """Return JavaScript ``String(v)``."""
    if isinstance(v, str):
        return v
    if v is UNDEFINED:
        return "undefined"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return number_to_string(v)  # type: ignore[arg-type]
    if isinstance(v, list):
        parts = ["" if e is None or e is UNDEFINED else to_js_string(e) for e in v]
        if sum(map(len, parts)) + len(parts) > MAX_STRING_LENGTH:  # checked before the join allocates
            from fluxnex.contract.errors import ExpressionError

            raise ExpressionError(f"expression produced a string longer than {MAX_STRING_LENGTH}")
        return ",".join(parts)
    if isinstance(v, JSDate):
        return v.to_string()
    if isinstance(v, JSFunction):
        return f"function {v.name}() {{ [native code] }}"
    from fluxnex.n8n.expressions._regex import JSRegExp

    if isinstance(v, JSRegExp):
        return f"/{v.source}/{v.flags}"
    return "[object Object]"


JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
         "\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\Z")
_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)\Z")


def js_trim(s: str) -> str:
    """Return String.prototype.trim() (JavaScript's whitespace set)."""
    return s.strip(JS_WHITESPACE)


def to_number(v: object) -> float:
    """Return JavaScript ``Number(v)``."""
    if is_number(v):
        return float(v)  # type: ignore[arg-type]
    if v is UNDEFINED:
        return math.nan
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, str):
        s = js_trim(v)
        if s == "":
            return 0.0
        if _DECIMAL.match(s):
            return float(s.replace("Infinity", "inf"))
        m = _RADIX.match(s)
        if m:
            base = {"x": 16, "o": 8, "b": 2}[m.group(1).lower()]
            try:
                return float(int(m.group(2), base))
            except ValueError:
                return math.nan
        return math.nan
    if isinstance(v, JSDate):
        return v.ms
    return to_number(to_primitive(v))


def to_primitive(v: object) -> object:
    """Return JavaScript ToPrimitive(v) with the default hint."""
    if isinstance(v, (list, dict)) or (typeof(v) in ("object", "function") and v is not None):
        return to_js_string(v)
    return v


def strict_equals(a: object, b: object) -> bool:
    """Return JavaScript ``a === b``."""
    if is_number(a) and is_number(b):
        return float(a) == float(b)  # type: ignore[arg-type]
    if typeof(a) != typeof(b):
        return False
    if isinstance(a, (str, bool)) or a is None or a is UNDEFINED:
        return a == b
    return a is b


def same_value_zero(a: object, b: object) -> bool:
    """Return JavaScript SameValueZero (Array.prototype.includes)."""
    if is_number(a) and is_number(b) and math.isnan(float(a)) and math.isnan(float(b)):  # type: ignore[arg-type]
        return True
    return strict_equals(a, b)


def loose_equals(a: object, b: object) -> bool:
    """Return JavaScript ``a == b``."""
    ta, tb = typeof(a), typeof(b)
    if ta == tb and not (a is None) ^ (b is None):
        return strict_equals(a, b)
    if (a is None or a is UNDEFINED) and (b is None or b is UNDEFINED):
        return True
    if a is None or a is UNDEFINED or b is None or b is UNDEFINED:
        return False
    if ta == "boolean":
        return loose_equals(to_number(a), b)
    if tb == "boolean":
        return loose_equals(a, to_number(b))
    if (ta == "number" and tb == "string") or (ta == "string" and tb == "number"):
        return to_number(a) == to_number(b)
    if ta in ("object", "function") and tb in ("number", "string"):
        return loose_equals(to_primitive(a), b)
    if tb in ("object", "function") and ta in ("number", "string"):
        return loose_equals(a, to_primitive(b))
    return False


def compare(op: str, a: object, b: object) -> bool:
    """Return JavaScript relational comparison ``a op b`` for op in <, <=, >, >=."""
    pa, pb = to_primitive(a), to_primitive(b)
    if isinstance(pa, str) and isinstance(pb, str):
        x: Any = pa
        y: Any = pb
    else:
        x, y = to_number(pa), to_number(pb)
        if math.isnan(x) or math.isnan(y):
            return False
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def to_integer(v: object, default: int = 0) -> int:
    """Return ToIntegerOrInfinity(v) clamped into a Python int (undefined gives ``default``)."""
    if v is UNDEFINED:
        return default
    x = to_number(v)
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return 2**53 if x > 0 else -(2**53)
    return int(x)


def normalize_number(x: float) -> int | float:
    """Return an int for integral finite floats (so 1 + 1 gives 2), the float otherwise."""
    negative_zero = x == 0 and math.copysign(1, x) < 0
    if isinstance(x, float) and x.is_integer() and abs(x) <= 2**53 and not negative_zero:
        return int(x)
    return x
