"""n8n's per-credential domain restriction (``allowedHttpRequestDomains`` / ``allowedDomains``) and origins.

n8n adds two fields to every credential that an HTTP Request node can use:

- ``allowedHttpRequestDomains``: ``"all"`` (the default, also when the field is absent), ``"domains"`` or
  ``"none"``;
- ``allowedDomains``: with ``"domains"``, a comma-separated list of hostnames; ``*.example.com`` matches every
  subdomain of example.com but not example.com itself; matching ignores case and a trailing dot.

FluxNex applies them to ``CredentialManager.session()`` the way n8n's HTTP Request node does: with ``"domains"``
a request to any other host fails before anything is sent; with ``"none"`` the connection cannot be used for
arbitrary HTTP requests at all (its plugin's own calls - refresh, tests - are unaffected).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from fluxnex.contract.errors import FluxnexError

__all__ = [
    "DOMAIN_FIELDS", "MODES", "DomainNotAllowed", "check_domain_fields", "check_request_domain", "host_allowed",
    "origin",
]

MODE_FIELD: Final = "allowedHttpRequestDomains"
LIST_FIELD: Final = "allowedDomains"
DOMAIN_FIELDS: Final = frozenset({MODE_FIELD, LIST_FIELD})
MODES: Final = ("all", "domains", "none")


class DomainNotAllowed(FluxnexError):
    """A session request to a host the connection's domain restriction does not allow (nothing was sent)."""


def _norm(host: str) -> str:
    return host.strip().lower().removesuffix(".")


def host_allowed(host: str, allowed_domains: str) -> bool:
    """n8n's ``isDomainAllowed``: exact hostnames and ``*.suffix`` subdomain wildcards, comma-separated."""
    if not allowed_domains.strip():
        return True
    hostname = _norm(host)
    if not hostname:
        return False
    for entry in filter(None, (_norm(d) for d in allowed_domains.split(","))):
        if entry.startswith("*."):
            suffix = entry[2:]
            if suffix and hostname.endswith("." + suffix):
                return True
        elif hostname == entry:
            return True
    return False


def check_domain_fields(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems with the two fields in connection data (for validation), as ``(field, problem)`` pairs."""
    problems: list[tuple[str, str]] = []
    mode = data.get(MODE_FIELD)
    if mode is not None and mode not in MODES:
        problems.append((MODE_FIELD, f"{mode!r} is not one of {list(MODES)!r}"))
    domains = data.get(LIST_FIELD)
    if domains is not None and not isinstance(domains, str):
        problems.append((LIST_FIELD, "must be a comma-separated string of hostnames"))
    elif mode == "domains" and not (domains or "").strip():
        problems.append((LIST_FIELD, "is required when allowedHttpRequestDomains is 'domains'"))
    return problems


def check_request_domain(data: Mapping[str, Any], url: str, *, what: str) -> None:
    """Raise ``DomainNotAllowed`` (one line, no secret) unless ``data``'s restriction allows a request to ``url``."""
    mode = data.get(MODE_FIELD) or "all"
    if mode == "all":
        return
    host = urlsplit(url).hostname or ""
    if mode == "none":
        raise DomainNotAllowed(
            f"{what} is restricted (allowedHttpRequestDomains 'none'): it may not be used for HTTP requests")
    domains = data.get(LIST_FIELD)
    if mode != "domains" or not isinstance(domains, str) or not domains.strip():
        raise DomainNotAllowed(f"{what} has no usable allowedDomains: set them or change allowedHttpRequestDomains")
    if not host_allowed(host, domains):
        raise DomainNotAllowed(f"{what} may not send requests to {host!r}: allowed domains are {domains}")


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, the port made explicit for http and https."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, _norm(parts.hostname or ""), port
