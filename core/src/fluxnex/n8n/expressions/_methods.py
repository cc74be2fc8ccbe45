"""The whitelisted String and Array methods, with JavaScript semantics and size guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions._jsvalues import (
    JS_WHITESPACE,
    UNDEFINED,
    is_number,
    js_trim,
    same_value_zero,
    strict_equals,
    to_integer,
    to_js_string,
)
from fluxnex.n8n.expressions._limits import MAX_ARRAY_LENGTH, MAX_STRING_LENGTH
from fluxnex.n8n.expressions._regex import JSRegExp
from fluxnex.n8n.expressions._replacement import Output, Replacement


class JSThrow(Exception):
    """A JavaScript runtime error (TypeError, ...): n8n turns it into undefined."""


def _too_long(size: int) -> None:
    if size > MAX_STRING_LENGTH:
        raise ExpressionError(f"expression produced a string longer than {MAX_STRING_LENGTH}")


def new_regexp(args: list[object]) -> JSRegExp:
    """Return ``new RegExp(pattern, flags)``."""
    pattern = args[0] if args else UNDEFINED
    flags = args[1] if len(args) > 1 else UNDEFINED
    if isinstance(pattern, JSRegExp):
        return JSRegExp(pattern.source, pattern.flags if flags is UNDEFINED else to_js_string(flags))
    source = "(?:)" if pattern is UNDEFINED else to_js_string(pattern)
    return JSRegExp(source, "" if flags is UNDEFINED else to_js_string(flags))


def _rel_index(v: object, size: int, default: int) -> int:
    i = to_integer(v, default)
    if i < 0:
        return max(size + i, 0)
    return min(i, size)


def _replace(this: str, pattern: object = UNDEFINED, replacement: object = UNDEFINED, *,
             all_: bool = False) -> str:
    repl = to_js_string(replacement)
    out = Output()
    if isinstance(pattern, JSRegExp):
        if all_ and not pattern.is_global:
            raise JSThrow("TypeError: replaceAll must be called with a global RegExp")
        count = 0 if pattern.is_global else 1
        expansion = Replacement(repl, pattern.pattern.groups, pattern.pattern.groupindex)
        result = pattern.sub(lambda m: expansion.expand(m, m.group(0), m.start(), this, out), this, count)
    else:
        literal = Replacement(repl)
        needle = to_js_string(pattern)
        if all_:
            if needle == "":
                _too_long(len(this) * (len(repl) + 1))
            positions: list[int] = []
            start = 0
            while True:
                found = this.find(needle, start)
                if found < 0:
                    break
                positions.append(found)
                start = found + max(len(needle), 1)
                if start > len(this):
                    break
            pieces: list[str] = []
            prev = 0
            for p in positions:
                pieces.append(this[prev:p])
                pieces.append(literal.expand(None, needle, p, this, out))
                prev = p + len(needle)
            pieces.append(this[prev:])
            result = "".join(pieces)
        else:
            found = this.find(needle)
            if found < 0:
                return this
            result = this[:found] + literal.expand(None, needle, found, this, out) + this[found + len(needle):]
    _too_long(len(result))
    return result


def _split(this: str, sep: object = UNDEFINED, limit: object = UNDEFINED, *_: object) -> list[object]:
    lim = 2**32 - 1 if limit is UNDEFINED else to_integer(limit) % 2**32
    if lim == 0:
        return []
    if sep is UNDEFINED:
        return [this]
    out: list[object] = []
    if isinstance(sep, JSRegExp):
        if this == "":
            return [] if sep.match(this) else [this]
        p = 0
        for m in sep.finditer(this):
            if m.end() == p or m.start() >= len(this):
                continue
            out.append(this[p:m.start()])
            out.extend(UNDEFINED if g is None else g for g in m.groups())
            p = m.end()
            if len(out) >= lim or len(out) > MAX_ARRAY_LENGTH:
                break
        out.append(this[p:])
    else:
        needle = to_js_string(sep)
        if needle == "":
            if len(this) > MAX_ARRAY_LENGTH:
                raise ExpressionError(f"expression produced an array longer than {MAX_ARRAY_LENGTH}")
            out = list(this)
        else:
            if this.count(needle) >= MAX_ARRAY_LENGTH:
                raise ExpressionError(f"expression produced an array longer than {MAX_ARRAY_LENGTH}")
            out = list(this.split(needle))
    if len(out) > MAX_ARRAY_LENGTH:
        raise ExpressionError(f"expression produced an array longer than {MAX_ARRAY_LENGTH}")
    return out[:lim]


def _repeat(this: str, count: object = UNDEFINED, *_: object) -> str:
    n = to_integer(count)
    if n < 0 or n >= 2**53:
        raise JSThrow("RangeError: Invalid count value")
    _too_long(len(this) * n)
    return this * n


def _pad(this: str, length: object, filler: object, *, start: bool) -> str:
    target = to_integer(length)
    fill = " " if filler is UNDEFINED else to_js_string(filler)
    if target <= len(this) or fill == "":
        return this
    _too_long(target)
    need = target - len(this)
    pad = (fill * (need // len(fill) + 1))[:need]
    return pad + this if start else this + pad


def _index_of(this: str, search: object = UNDEFINED, pos: object = UNDEFINED, *_: object) -> int:
    return this.find(to_js_string(search), min(max(to_integer(pos), 0), len(this)))


def _last_index_of(this: str, search: object = UNDEFINED, pos: object = UNDEFINED, *_: object) -> int:
    needle = to_js_string(search)
    end = len(this) if pos is UNDEFINED else min(max(to_integer(pos), 0), len(this))
    return this.rfind(needle, 0, end + len(needle))


def _no_regex(v: object) -> str:
    if isinstance(v, JSRegExp):
        raise JSThrow("TypeError: argument must not be a regular expression")
    return to_js_string(v)


def _slice(seq: str | list[object], start: object, end: object) -> str | list[object]:
    size = len(seq)
    return seq[_rel_index(start, size, 0):_rel_index(end, size, size)]


def _ends_with(this: str, search: object, end: object) -> bool:
    stop = len(this) if end is UNDEFINED else min(max(to_integer(end), 0), len(this))
    return this[:stop].endswith(_no_regex(search))


def _substring(this: str, start: object = UNDEFINED, end: object = UNDEFINED, *_: object) -> str:
    size = len(this)
    a = min(max(to_integer(start), 0), size)
    b = size if end is UNDEFINED else min(max(to_integer(end), 0), size)
    return this[min(a, b):max(a, b)]


def _at(seq: str | list[object], index: object = UNDEFINED) -> object:
    i = to_integer(index)
    if i < 0:
        i += len(seq)
    return seq[i] if 0 <= i < len(seq) else UNDEFINED


def _concat_str(this: str, *args: object) -> str:
    parts = [to_js_string(a) for a in args]
    _too_long(len(this) + sum(map(len, parts)))
    return this + "".join(parts)


STRING_METHODS: Final[dict[str, Callable[..., object]]] = {
    "split": _split,
    "replace": lambda s, p=UNDEFINED, r=UNDEFINED, *_: _replace(s, p, r),
    "replaceAll": lambda s, p=UNDEFINED, r=UNDEFINED, *_: _replace(s, p, r, all_=True),
    "trim": lambda s, *_: js_trim(s),
    "trimStart": lambda s, *_: s.lstrip(JS_WHITESPACE),
    "trimEnd": lambda s, *_: s.rstrip(JS_WHITESPACE),
    "toLowerCase": lambda s, *_: s.lower(),
    "toUpperCase": lambda s, *_: s.upper(),
    "startsWith": lambda s, x=UNDEFINED, p=UNDEFINED, *_: s.startswith(_no_regex(x), _rel_clamp(p, len(s))),
    "endsWith": lambda s, x=UNDEFINED, p=UNDEFINED, *_: _ends_with(s, x, p),
    "includes": lambda s, x=UNDEFINED, p=UNDEFINED, *_: _no_regex(x) in s[_rel_clamp(p, len(s)):],
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "slice": lambda s, a=UNDEFINED, b=UNDEFINED, *_: _slice(s, a, b),
    "substring": _substring,
    "charAt": lambda s, i=UNDEFINED, *_: s[to_integer(i)] if 0 <= to_integer(i) < len(s) else "",
    "at": lambda s, i=UNDEFINED, *_: _at(s, i),
    "repeat": _repeat,
    "padStart": lambda s, n=UNDEFINED, f=UNDEFINED, *_: _pad(s, n, f, start=True),
    "padEnd": lambda s, n=UNDEFINED, f=UNDEFINED, *_: _pad(s, n, f, start=False),
    "concat": _concat_str,
    "toString": lambda s, *_: s,
    "valueOf": lambda s, *_: s,
}


def _rel_clamp(v: object, size: int) -> int:
    return min(max(to_integer(v), 0), size)


def _join(this: list[object], sep: object = UNDEFINED, *_: object) -> str:
    glue = "," if sep is UNDEFINED else to_js_string(sep)
    parts = ["" if e is None or e is UNDEFINED else to_js_string(e) for e in this]
    _too_long(sum(map(len, parts)) + len(glue) * max(len(parts) - 1, 0))
    return glue.join(parts)


def _array_index_of(this: list[object], x: object = UNDEFINED, *_: object) -> int:
    for i, e in enumerate(this):
        if strict_equals(e, x):
            return i
    return -1


def _array_concat(this: list[object], *args: object) -> list[object]:
    out = list(this)
    for a in args:
        if isinstance(a, list):
            out.extend(a)
        else:
            out.append(a)
    if len(out) > MAX_ARRAY_LENGTH:
        raise ExpressionError(f"expression produced an array longer than {MAX_ARRAY_LENGTH}")
    return out


ARRAY_METHODS: Final[dict[str, Callable[..., object]]] = {
    # pop/shift do not mutate: credential data handed in by the caller must stay unchanged.
    "pop": lambda a, *_: a[-1] if a else UNDEFINED,
    "shift": lambda a, *_: a[0] if a else UNDEFINED,
    "join": _join,
    "includes": lambda a, x=UNDEFINED, *_: any(same_value_zero(e, x) for e in a),
    "indexOf": _array_index_of,
    "slice": lambda a, s=UNDEFINED, e=UNDEFINED, *_: _slice(a, s, e),
    "at": lambda a, i=UNDEFINED, *_: _at(a, i),
    "concat": _array_concat,
    "reverse": lambda a, *_: list(reversed(a)),
    "toString": lambda a, *_: _join(a),
}

__all__ = ["ARRAY_METHODS", "STRING_METHODS", "JSThrow", "is_number", "new_regexp"]
