"""The few WHATWG URL and ECMAScript URI functions the n8n credential classes call, restated."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, unquote, urlsplit

from fluxnex.n8n.code_auth._js import CodeAuthError

#: WHATWG's path percent-encode set (C0 controls and non-ASCII are encoded as well).
_PATH_ENCODE = frozenset(' "#<>?`{}')
_MALFORMED = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def pathname(url: str) -> str:
    """``new URL(url).pathname``: dot segments removed, the path percent-encode set encoded, ``/`` if empty."""
    raw = urlsplit(url).path or "/"
    out: list[str] = []
    for segment in raw.split("/")[1:]:
        if segment in (".", "%2e", "%2E"):
            continue
        if segment.lower() in ("..", ".%2e", "%2e.", "%2e%2e"):
            if out:
                out.pop()
            continue
        out.append(segment)
    if raw.split("/")[-1] in (".", ".."):
        out.append("")
    path = "/" + "/".join(out)
    return "".join(ch if (0x20 < ord(ch) < 0x7F and ch not in _PATH_ENCODE) else quote(ch, safe="") for ch in path)


def decode_uri_component(value: str) -> str:
    """``decodeURIComponent`` (raises as it does on a malformed escape)."""
    if _MALFORMED.search(value):
        raise CodeAuthError("URIError: URI malformed")
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise CodeAuthError("URIError: URI malformed") from None


def encode_uri_component(value: str) -> str:
    """``encodeURIComponent``."""
    return quote(value, safe="-_.!~*'()")


def node_base64(value: str) -> bytes:
    """``Buffer.from(value, 'base64')``: URL-safe letters accepted, other characters and padding ignored."""
    cleaned = _NOT_BASE64.sub("", value.replace("-", "+").replace("_", "/").split("=", 1)[0])
    cleaned = cleaned[: len(cleaned) - (len(cleaned) % 4 == 1)]  # a lone trailing sextet carries no byte
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
