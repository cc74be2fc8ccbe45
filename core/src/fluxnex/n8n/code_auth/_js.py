"""JavaScript semantics the n8n credential classes rely on, restated for request options held as dicts.

Request options are n8n's ``IHttpRequestOptions`` / ``IRequestOptions`` as plain dicts (``url``/``baseURL`` or
``uri``, ``method``, ``headers``, ``qs``, ``body``, ``form``, ``auth``, ``json``). A key that JavaScript would
hold as ``undefined`` is absent, as it is once n8n serialises the options.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from fluxnex.contract.errors import FluxnexError
from fluxnex.n8n.expressions import UNDEFINED, to_js_string

Options = dict[str, Any]


class CodeAuthError(FluxnexError):
    """n8n's code would throw for these credentials and this request (the message says what is wrong)."""


def get(values: Mapping[str, Any] | None, key: str) -> Any:
    """``values[key]`` as JavaScript reads it: ``UNDEFINED`` when absent (or when ``values`` itself is absent)."""
    if values is None:
        return UNDEFINED
    return values.get(key, UNDEFINED)


def text(value: Any) -> str:
    """A template literal's ``${value}``: ``undefined``, ``null``, ``true``, numbers as JavaScript prints them."""
    return to_js_string(value)


def truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON-shaped value."""
    if value is UNDEFINED or value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0  # NaN and 0 are falsy
    return not (isinstance(value, str) and value == "")


def b64(value: str) -> str:
    """``Buffer.from(value).toString('base64')`` (UTF-8)."""
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def basic(user: Any, password: Any) -> str:
    """``Basic base64(`${user}:${password}`)``."""
    return "Basic " + b64(f"{text(user)}:{text(password)}")


def headers_of(options: Options, what: str) -> dict[str, Any]:
    """``requestOptions.headers`` where n8n's code writes into it without a guard (throws when it is absent)."""
    headers = options.get("headers")
    if not isinstance(headers, dict):
        raise CodeAuthError(f"{what}: the request has no headers object to add credentials to")
    return headers


def copy(options: Options) -> Options:
    """A copy deep enough for the code below (the mutable parts: headers, qs, body, form, auth)."""
    out = dict(options)
    for key in ("headers", "qs", "body", "form", "auth"):
        if isinstance(out.get(key), dict):
            out[key] = dict(out[key])
    return out


def request_url(options: Options) -> str:
    """``new URL(options.url ? options.url : options.uri)`` (raises as ``new URL`` does on no or a bad URL)."""
    url = options.get("url") or options.get("uri")
    return _absolute(url)


def joined_url(options: Options) -> str:
    """n8n's ``getUrl``: ``new URL(url, baseURL)``, else ``uri``."""
    url = options.get("url")
    if url:
        base = options.get("baseURL")
        return _absolute(urljoin(str(base), str(url)) if base else url)
    uri = options.get("uri")
    if uri:
        return str(uri)
    raise CodeAuthError("No URL found in request options")


def _absolute(url: Any) -> str:
    if not isinstance(url, str) or not urlsplit(url).scheme or not urlsplit(url).netloc:
        raise CodeAuthError("TypeError: Invalid URL (the request's URL is not absolute)")
    return url


def hostname(url: str) -> str:
    """WHATWG ``URL.hostname`` of an absolute URL (lower-cased)."""
    return (urlsplit(url).hostname or "").lower()


def pathname(url: str) -> str:
    """WHATWG ``URL.pathname`` (``/`` for an empty path)."""
    return urlsplit(url).path or "/"


def put(target: dict[str, Any], key: str, value: Any) -> None:
    """``target[key] = value``; assigning ``undefined`` leaves no key (as n8n's serialised options show)."""
    if value is UNDEFINED:
        target.pop(key, None)
    else:
        target[key] = value


def spread(value: Any) -> dict[str, Any]:
    """``{...value}`` of an options part that may be absent."""
    return dict(value) if isinstance(value, Mapping) else {}


def utf16_length(value: str) -> int:
    """JavaScript ``string.length`` (UTF-16 code units)."""
    return len(value.encode("utf-16-le")) // 2


def form_encode(pairs: list[tuple[str, str]]) -> str:
    """``new URLSearchParams(pairs).toString()`` (WHATWG form encoding: ``*-._`` kept, space as ``+``)."""
    from urllib.parse import quote_plus

    return "&".join(f"{quote_plus(k, safe='*')}={quote_plus(v, safe='*')}".replace("~", "%7E") for k, v in pairs)
