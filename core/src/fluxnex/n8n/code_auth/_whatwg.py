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


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
_QUERY_ENCODE = frozenset(" \"#<>'")


class URL:
    """The parts of a WHATWG ``URL`` the AWS code reads and writes (special schemes only)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc or parts.hostname is None:
            raise CodeAuthError("TypeError: Invalid URL (not an absolute URL with a host)")
        try:
            port = parts.port
        except ValueError:
            raise CodeAuthError("TypeError: Invalid URL (its port is not a number)") from None
        self.protocol = parts.scheme.lower() + ":"
        self.hostname = f"[{parts.hostname.lower()}]" if ":" in parts.hostname else parts.hostname.lower()
        self.port = None if port == _DEFAULT_PORTS.get(parts.scheme.lower()) else port
        self.pathname = pathname(url)
        raw = parts.query
        self._search = "" if not raw else "?" + "".join(
            ch if (0x20 < ord(ch) < 0x7F and ch not in _QUERY_ENCODE) else quote(ch, safe="") for ch in raw)
        self._pairs: list[tuple[str, str]] | None = None

    @property
    def host(self) -> str:
        return self.hostname if self.port is None else f"{self.hostname}:{self.port}"

    @host.setter
    def host(self, value: str) -> None:
        other = URL(f"{self.protocol}//{value}/")
        self.hostname, self.port = other.hostname, other.port

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``; ``null`` for a scheme that is not special (as ``undefinedhttps:``)."""
        if self.protocol[:-1] not in _DEFAULT_PORTS:
            return "null"
        return f"{self.protocol}//{self.host}"

    def _params(self) -> list[tuple[str, str]]:
        if self._pairs is None:
            self._pairs = parse_form(self._search[1:])
        return self._pairs

    def append(self, key: str, value: str) -> None:
        """``searchParams.append``."""
        self._params().append((key, value))

    def set(self, key: str, value: str) -> None:
        """``searchParams.set``: the first pair of that name replaced, the others removed (else appended)."""
        pairs, out, done = self._params(), [], False
        for k, v in pairs:
            if k == key:
                if not done:
                    out.append((k, value))
                    done = True
                continue
            out.append((k, v))
        if not done:
            out.append((key, value))
        self._pairs = out

    @property
    def search(self) -> str:
        if self._pairs is None:
            return self._search
        from fluxnex.n8n.code_auth._js import form_encode

        encoded = form_encode(self._pairs)
        return f"?{encoded}" if encoded else ""


def parse_form(query: str) -> list[tuple[str, str]]:
    """``new URLSearchParams(query)`` as pairs (``+`` is a space, escapes decoded leniently)."""
    out = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        out.append((unquote(key.replace("+", " ")), unquote(value.replace("+", " "))))
    return out
