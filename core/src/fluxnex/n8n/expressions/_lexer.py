"""Tokenizer for the JavaScript expression subset used inside n8n ``{{ }}`` blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

from fluxnex.contract.errors import ExpressionError

PUNCTUATORS = (
    "===", "!==", "...", "?.", "??", "==", "!=", "<=", ">=", "&&", "||",
    "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", "(", ")", "[", "]", "{", "}", ",", ".",
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_VALUE_END = {"num", "str", "tmpl", "regex", "name"}


@dataclass
class Token:
    """One token: ``kind`` in num/str/tmpl/regex/name/punc/eof, its value and source offset."""

    kind: str
    value: object
    pos: int
    parts: list[str] = field(default_factory=list)
    subtokens: list[list[Token]] = field(default_factory=list)


class Lexer:
    """Turn expression source into tokens; template literals carry their ``${}`` parts as token lists."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.i = 0

    def error(self, msg: str) -> ExpressionError:
        return ExpressionError(f"syntax error in expression {self.src!r} at offset {self.i}: {msg}")

    def tokenize(self, *, until_brace: bool = False) -> list[Token]:
        """Return tokens up to the end (or the ``}`` closing a template substitution)."""
        out: list[Token] = []
        depth = 0
        src = self.src
        while True:
            while self.i < len(src) and src[self.i] in " \t\n\r\v\f\u00a0\ufeff\u2028\u2029":
                self.i += 1
            if self.i >= len(src):
                if until_brace:
                    raise self.error("unterminated template substitution")
                out.append(Token("eof", None, self.i))
                return out
            c, start = src[self.i], self.i
            if until_brace and c == "}" and depth == 0:
                self.i += 1
                out.append(Token("eof", None, start))
                return out
            if c.isdigit() or (c == "." and self.i + 1 < len(src) and src[self.i + 1].isdigit()):
                out.append(Token("num", self._number(), start))
            elif c in "'\"":
                out.append(Token("str", self._string(c), start))
            elif c == "`":
                out.append(self._template())
            elif c.isalpha() or c in "_$":
                j = self.i
                while j < len(src) and (src[j].isalnum() or src[j] in "_$"):
                    j += 1
                out.append(Token("name", src[self.i:j], start))
                self.i = j
            elif c == "/" and not (out and (out[-1].kind in _VALUE_END or out[-1].value in (")", "]", "}"))):
                out.append(self._regex())
            else:
                for p in PUNCTUATORS:
                    if src.startswith(p, self.i):
                        if p == "?." and self.i + 2 < len(src) and src[self.i + 2].isdigit():
                            continue
                        self.i += len(p)
                        depth += (p == "{") - (p == "}")
                        out.append(Token("punc", p, start))
                        break
                else:
                    raise self.error(f"unexpected character {c!r}")

    def _number(self) -> float:
        src, j = self.src, self.i
        if src.startswith(("0x", "0X", "0b", "0B", "0o", "0O"), j):
            base = {"x": 16, "b": 2, "o": 8}[src[j + 1].lower()]
            k = j + 2
            while k < len(src) and src[k].isalnum():
                k += 1
            try:
                value = float(int(src[j + 2:k], base))
            except ValueError:
                raise self.error("invalid number") from None
            self.i = k
            return value
        k = j
        while k < len(src) and src[k].isdigit():
            k += 1
        if k < len(src) and src[k] == ".":
            k += 1
            while k < len(src) and src[k].isdigit():
                k += 1
        if k < len(src) and src[k] in "eE":
            m = k + 1
            if m < len(src) and src[m] in "+-":
                m += 1
            if m < len(src) and src[m].isdigit():
                while m < len(src) and src[m].isdigit():
                    m += 1
                k = m
        if k < len(src) and (src[k].isalpha() or src[k] in "_$"):
            raise self.error("identifier directly after number")
        self.i = k
        return float(src[j:k])

    def _escape(self) -> str:
        src = self.src
        e = src[self.i]
        self.i += 1
        if e in _ESCAPES and not (e == "0" and self.i < len(src) and src[self.i].isdigit()):
            return _ESCAPES[e]
        if e in "xu":
            if e == "u" and src.startswith("{", self.i):
                end = src.find("}", self.i)
                digits = src[self.i + 1:end] if end > 0 else ""
                self.i = end + 1
            else:
                width = 2 if e == "x" else 4
                digits = src[self.i:self.i + width]
                if len(digits) != width:
                    raise self.error("invalid escape")
                self.i += width
            try:
                return chr(int(digits, 16))
            except ValueError:
                raise self.error("invalid escape") from None
        if e == "\r" and src.startswith("\n", self.i):
            self.i += 1
            return ""
        if e in "\n\r\u2028\u2029":
            return ""
        if e.isdigit():
            raise self.error("octal escapes are not supported")
        return e

    def _string(self, quote: str) -> str:
        src = self.src
        self.i += 1
        buf: list[str] = []
        while True:
            if self.i >= len(src) or src[self.i] in "\n\r":
                raise self.error("unterminated string literal")
            c = src[self.i]
            if c == quote:
                self.i += 1
                return "".join(buf)
            if c == "\\":
                self.i += 1
                if self.i >= len(src):
                    raise self.error("unterminated string literal")
                buf.append(self._escape())
            else:
                buf.append(c)
                self.i += 1

    def _template(self) -> Token:
        src, start = self.src, self.i
        self.i += 1
        parts: list[str] = []
        subs: list[list[Token]] = []
        buf: list[str] = []
        while True:
            if self.i >= len(src):
                raise self.error("unterminated template literal")
            c = src[self.i]
            if c == "`":
                self.i += 1
                parts.append("".join(buf))
                return Token("tmpl", None, start, parts, subs)
            if c == "\\":
                self.i += 1
                if self.i >= len(src):
                    raise self.error("unterminated template literal")
                buf.append(self._escape())
            elif src.startswith("${", self.i):
                self.i += 2
                parts.append("".join(buf))
                buf = []
                subs.append(self.tokenize(until_brace=True))
            else:
                buf.append(c)
                self.i += 1

    def _regex(self) -> Token:
        src, start = self.src, self.i
        j = self.i + 1
        in_class = False
        while True:
            if j >= len(src) or src[j] in "\n\r":
                raise self.error("unterminated regular expression")
            c = src[j]
            if c == "\\":
                j += 2
                continue
            if c == "[":
                in_class = True
            elif c == "]":
                in_class = False
            elif c == "/" and not in_class:
                break
            j += 1
        body = src[self.i + 1:j]
        k = j + 1
        while k < len(src) and (src[k].isalnum() or src[k] in "_$"):
            k += 1
        self.i = k
        return Token("regex", (body, src[j + 1:k]), start)
