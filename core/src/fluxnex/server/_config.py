"""``ServiceConfig``: what an operator sets for the connect service."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from fluxnex.contract.errors import ConfigurationError

__all__ = ["ServiceConfig"]


@attrs.frozen
class ServiceConfig:
    """The connect service's settings.

    ``allowed_return_urls``: prefixes a connect session's ``return_url`` must start with (no open redirects;
    a prefix matches only up to a path, query or fragment boundary, so ``https://app.example`` does not admit
    ``https://app.example.evil``). ``frame_ancestors``: CSP ``frame-ancestors`` of the pages (``'none'`` unless
    the pages are embedded). ``rate_limit``: (requests, seconds) per API key per process (N processes admit
    up to N times as many). ``session_ttl``: seconds a connect session's link stays usable. ``loop_reads``: serve
    ``GET .../credentials`` and ``GET .../connections/{id}`` of a connection needing no refresh on the event loop,
    on one connection of its own whose statements give up after ``loop_read_timeout`` seconds (then, and for a
    due token, the request goes to the thread pool as every other does; on PostgreSQL the loop does not wait for
    the answer, it serves other requests meanwhile); False sends every request to the thread pool
    (docs/service.md weighs it).
    """

    public_url: str = "http://127.0.0.1:8080"
    allowed_return_urls: tuple[str, ...] = ()
    frame_ancestors: str = "'none'"
    rate_limit: tuple[int, float] = (600, 60.0)
    session_ttl: float = 1800.0
    state_ttl: float = 600.0
    loop_reads: bool = True
    loop_read_timeout: float = 0.05

    def __attrs_post_init__(self) -> None:
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"public URL must be an http(s) URL, got {self.public_url!r}")
        for prefix in self.allowed_return_urls:
            if urlsplit(prefix).scheme not in ("http", "https") or not urlsplit(prefix).netloc:
                raise ConfigurationError(f"allowed return URL prefix must be an http(s) URL, got {prefix!r}")
        if self.rate_limit[0] < 1 or self.rate_limit[1] <= 0:
            raise ConfigurationError(f"rate limit must be at least 1 request per window, got {self.rate_limit!r}")
        if not self.session_ttl > 0:
            raise ConfigurationError(f"session TTL must be a positive number of seconds, got {self.session_ttl!r}")
        if not 0 < self.loop_read_timeout <= 5:
            raise ConfigurationError(f"loop read timeout must be over 0 and at most 5 seconds, got "
                                     f"{self.loop_read_timeout!r}")
        if any(c in self.frame_ancestors for c in ";,\r\n"):
            raise ConfigurationError("frame-ancestors must be a source list without ';' or ','")

    @property
    def base(self) -> str:
        """The public URL without a trailing slash."""
        return self.public_url.rstrip("/")

    @property
    def path(self) -> str:
        """The public URL's path ('' at the root; '/fluxnex' when mounted there): where cookies apply."""
        return urlsplit(self.base).path.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry Secure when browsers reach the service over https."""
        return self.public_url.startswith("https://")

    def return_url_allowed(self, url: str) -> bool:
        """Whether ``url`` starts with an allowed prefix (at a boundary)."""
        if any(c in url for c in "\r\n\t\\") or urlsplit(url).scheme not in ("http", "https"):
            return False
        for prefix in self.allowed_return_urls:
            boundary = url[len(prefix):len(prefix) + 1] in ("", "/", "?", "#")
            if url.startswith(prefix) and (prefix.endswith("/") or boundary):
                return True
        return False
