"""Recursive-descent parser producing a tuple AST for the JavaScript expression subset.

Nodes: ("lit", v) ("id", name) ("tmpl", parts, exprs) ("regex", JSRegExp) ("arr", items) ("obj", pairs)
("member", obj, key, computed, optional) ("call", callee, args, optional) ("new", name, args)
("unary", op, e) ("bin", op, l, r) ("logic", op, l, r) ("cond", test, a, b) ("chain", e).
"""

from __future__ import annotations

from typing import Any

from fluxnex.contract.errors import ExpressionError
from fluxnex.n8n.expressions._jsvalues import UNDEFINED
from fluxnex.n8n.expressions._lexer import Lexer, Token
from fluxnex.n8n.expressions._limits import MAX_NESTING_DEPTH
from fluxnex.n8n.expressions._regex import JSRegExp

Node = tuple[Any, ...]


_BINARY_PRECEDENCE = {
    "??": 1, "||": 1, "&&": 2,
    "==": 3, "!=": 3, "===": 3, "!==": 3,
    "<": 4, "<=": 4, ">": 4, ">=": 4,
    "+": 5, "-": 5, "*": 6, "/": 6, "%": 6,
}
_LITERAL_NAMES = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}
_RESERVED = {"function", "var", "let", "const", "return", "this", "class", "delete", "in", "instanceof",
             "void", "yield", "await", "import", "export", "if", "else", "for", "while", "do", "switch",
             "case", "throw", "try", "catch", "finally", "with", "debugger", "super", "new", "typeof"}


class Parser:
    """Parse one token list (from :class:`Lexer`) into an AST."""

    def __init__(self, src: str, tokens: list[Token]) -> None:
        self.src = src
        self.tokens = tokens
        self.k = 0
        self.depth = 0

    def error(self, msg: str, tok: Token | None = None) -> ExpressionError:
        pos = (tok or self.tokens[self.k]).pos
        return ExpressionError(f"syntax error in expression {self.src!r} at offset {pos}: {msg}")

    def peek(self) -> Token:
        return self.tokens[self.k]

    def at(self, value: str) -> bool:
        t = self.tokens[self.k]
        return t.kind == "punc" and t.value == value

    def take(self) -> Token:
        t = self.tokens[self.k]
        self.k += 1
        return t

    def expect(self, value: str) -> None:
        if not self.at(value):
            t = self.peek()
            raise self.error(f"expected {value!r}, found {'end' if t.kind == 'eof' else repr(t.value)}")
        self.k += 1

    def parse_all(self) -> Node:
        if self.peek().kind == "eof":
            raise self.error("empty expression")
        node = self.expression()
        if self.peek().kind != "eof":
            raise self.error(f"unexpected {self.peek().value!r}")
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise self.error(f"nesting deeper than {MAX_NESTING_DEPTH}")

    def expression(self) -> Node:
        self._enter()
        test = self.binary(1)
        if self.at("?"):
            self.k += 1
            a = self.expression()
            self.expect(":")
            b = self.expression()
            test = ("cond", test, a, b)
        self.depth -= 1
        return test

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            t = self.peek()
            prec = _BINARY_PRECEDENCE.get(str(t.value)) if t.kind == "punc" else None
            if prec is None or prec < min_prec:
                return left
            self.k += 1
            right = self.binary(prec + 1)
            op = str(t.value)
            left = ("logic" if op in ("&&", "||", "??") else "bin", op, left, right)

    def unary(self) -> Node:
        t = self.peek()
        if (t.kind == "punc" and t.value in ("!", "-", "+")) or (t.kind == "name" and t.value == "typeof"):
            self.k += 1
            self._enter()
            node = ("unary", t.value, self.unary())
            self.depth -= 1
            return node
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        optional_seen = False
        while True:
            if self.at("."):
                self.k += 1
                node = ("member", node, self._name(), False, False)
            elif self.at("?."):
                self.k += 1
                optional_seen = True
                if self.at("("):
                    node = ("call", node, self.arguments(), True)
                elif self.at("["):
                    self.k += 1
                    key = self.expression()
                    self.expect("]")
                    node = ("member", node, key, True, True)
                else:
                    node = ("member", node, self._name(), False, True)
            elif self.at("["):
                self.k += 1
                key = self.expression()
                self.expect("]")
                node = ("member", node, key, True, False)
            elif self.at("("):
                node = ("call", node, self.arguments(), False)
            elif self.peek().kind == "tmpl":
                raise self.error("tagged templates are not supported")
            else:
                return ("chain", node) if optional_seen else node

    def _name(self) -> str:
        t = self.take()
        if t.kind != "name":
            raise self.error("expected a property name", t)
        return str(t.value)

    def arguments(self) -> list[Node]:
        self.expect("(")
        args: list[Node] = []
        while not self.at(")"):
            args.append(self.expression())
            if not self.at(")"):
                self.expect(",")
        self.k += 1
        return args

    def primary(self) -> Node:
        t = self.take()
        if t.kind in ("num", "str"):
            return ("lit", t.value)
        if t.kind == "tmpl":
            exprs = [Parser(self.src, sub).parse_all_nested(self.depth) for sub in t.subtokens]
            return ("tmpl", list(t.parts), exprs)
        if t.kind == "regex":
            assert isinstance(t.value, tuple)
            return ("regex", JSRegExp(str(t.value[0]), str(t.value[1])))
        if t.kind == "name":
            name = str(t.value)
            if name in _LITERAL_NAMES:
                return ("lit", _LITERAL_NAMES[name])
            if name == "new":
                callee = self.take()
                if callee.kind != "name" or callee.value not in ("Date", "RegExp"):
                    raise self.error("only `new Date(...)` and `new RegExp(...)` are supported", callee)
                args = self.arguments() if self.at("(") else []
                return ("new", callee.value, args)
            if name in _RESERVED:
                raise self.error(f"{name!r} is not supported", t)
            return ("id", name)
        if t.kind == "punc" and t.value == "(":
            self._enter()
            node = self.expression()
            self.expect(")")
            self.depth -= 1
            return node
        if t.kind == "punc" and t.value == "[":
            self._enter()
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.expression())
                if not self.at("]"):
                    self.expect(",")
            self.k += 1
            self.depth -= 1
            return ("arr", items)
        if t.kind == "punc" and t.value == "{":
            self._enter()
            pairs: list[tuple[str, Node]] = []
            while not self.at("}"):
                key_tok = self.take()
                if key_tok.kind not in ("name", "str", "num"):
                    raise self.error("expected a property key", key_tok)
                key = str(key_tok.value) if key_tok.kind != "num" else _num_key(key_tok.value)
                if key_tok.kind == "name" and not self.at(":"):
                    pairs.append((key, ("id", key)))
                else:
                    self.expect(":")
                    pairs.append((key, self.expression()))
                if not self.at("}"):
                    self.expect(",")
            self.k += 1
            self.depth -= 1
            return ("obj", pairs)
        if t.kind == "eof":
            raise self.error("unexpected end of expression", t)
        raise self.error(f"unexpected {t.value!r}", t)

    def parse_all_nested(self, depth: int) -> Node:
        self.depth = depth
        return self.parse_all()


def _num_key(v: object) -> str:
    from fluxnex.n8n.expressions._jsvalues import to_js_string

    return to_js_string(v)


def _ast_depth(node: Node) -> int:
    """Return the depth of an AST (iteratively, so a long chain cannot exhaust the Python stack)."""
    best = 0
    stack: list[tuple[object, int]] = [(node, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, tuple) and item and isinstance(item[0], str):
            best = max(best, d)
            stack.extend((child, d + 1) for child in item[1:])
        elif isinstance(item, (list, tuple)):
            stack.extend((child, d) for child in item)
    return best


def parse_code(code: str) -> Node:
    """Parse the source of one ``{{ }}`` block; raise ExpressionError on syntax errors or limits."""
    tokens = Lexer(code).tokenize()
    node = Parser(code, tokens).parse_all()
    if _ast_depth(node) > MAX_NESTING_DEPTH * 2:
        limit = MAX_NESTING_DEPTH * 2
        raise ExpressionError(f"expression {code[:60]!r} nests deeper than {limit} operations")
    return node
