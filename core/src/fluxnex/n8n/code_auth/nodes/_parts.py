"""The building blocks the node-code families share: the writable parts of a request and the common shapes of
"put the credential there" (a header, basic auth, the query). Logins go through the context's token fetcher
(:func:`fluxnex.n8n.code_auth._context.fetch`, ``fetch_token_field`` and ``cache_key``).

Request options are n8n-shaped dicts (see :mod:`fluxnex.n8n.code_auth._js`); the adapter keeps the caller's other
headers when a node builds a new headers object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fluxnex.n8n.code_auth._context import AuthFunction, Context
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, get, put, text

Creds = Mapping[str, Any]
#: a value computed from the credentials (a field, ``Bearer <field>``...)
Value = Callable[[Creds], Any]
FORM = "application/x-www-form-urlencoded"


def headers(o: Options) -> dict[str, Any]:
    """The request's headers, made writable."""
    o["headers"] = dict(o.get("headers") or {})
    return o["headers"]  # type: ignore[no-any-return]


def query(o: Options) -> dict[str, Any]:
    """The request's query (``qs``), made writable."""
    o["qs"] = dict(o.get("qs") or {})
    return o["qs"]  # type: ignore[no-any-return]


def body_fields(o: Options, what: str, *, form: bool = False) -> dict[str, Any]:
    """The request's object body, made writable; a request without a body gets an empty one (a form one for the
    nodes that send ``form``)."""
    body = o.get("body")
    if body is None:
        if form:
            headers(o)["Content-Type"] = FORM
        body = {}
    if not isinstance(body, dict):
        raise CodeAuthError(f"{what}: the credentials go in the request's body, which must be a JSON object or a "
                            "form")
    o["body"] = dict(body)
    return o["body"]  # type: ignore[no-any-return]


def field(name: str, *, as_text: bool = False) -> Value:
    """The credential's ``name`` (``undefined`` when absent; with ``as_text``, as a template literal prints it)."""
    if as_text:
        return lambda c: text(get(c, name))
    return lambda c: get(c, name)


def prefixed(prefix: str, name: str) -> Value:
    """```${prefix}${credentials[name]}``` (a template literal)."""
    return lambda c: f"{prefix}{text(get(c, name))}"


def bearer(name: str) -> Value:
    """```Bearer ${credentials[name]}```."""
    return prefixed("Bearer ", name)


def with_headers(*pairs: tuple[str, Value]) -> AuthFunction:
    """A node that sends headers ``name: value(credentials)`` (an ``undefined`` value sends none)."""

    def authenticate(c: Creds, o: Options, _: Context) -> Options:
        o = copy(o)
        target = headers(o)
        for name, value in pairs:
            put(target, name, value(c))
        return o

    return authenticate


def with_basic(user: Value, password: Value) -> AuthFunction:
    """A node that sends basic auth ``user(credentials):password(credentials)`` (UTF-8, as n8n's client does)."""

    def authenticate(c: Creds, o: Options, _: Context) -> Options:
        o = copy(o)
        o["auth"] = {"username": user(c), "password": password(c)}
        return o

    return authenticate


def with_query(*pairs: tuple[str, Value], fixed: Mapping[str, str] | None = None) -> AuthFunction:
    """A node that adds query parameters ``name: value(credentials)`` over the caller's, then the ``fixed`` ones."""

    def authenticate(c: Creds, o: Options, _: Context) -> Options:
        o = copy(o)
        qs = query(o)
        for name, value in pairs:
            put(qs, name, value(c))
        qs.update(fixed or {})
        return o

    return authenticate


def with_bearer(name: str) -> AuthFunction:
    """A node that sends ``Authorization: Bearer <credentials[name]>``."""
    return with_headers(("Authorization", bearer(name)))


def bearer_auth(o: Options, token: str) -> Options:
    """``o`` with ``Authorization: Bearer <token>`` (a token a login returned)."""
    o = copy(o)
    headers(o)["Authorization"] = f"Bearer {token}"
    return o
