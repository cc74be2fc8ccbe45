"""What a code-authenticated type's function is given besides the credentials and the request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from fluxnex.n8n.code_auth._js import CodeAuthError, Options, text


@attrs.frozen
class TokenRequest:
    """A token request that n8n's code sends before the request itself: a POST (a form body, or JSON with its
    ``Content-Type``; optional basic auth) or, with ``method``, a GET (no body)."""

    url: str = attrs.field(repr=False)
    body: str = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False)
    auth: tuple[str, str] | None = attrs.field(default=None, repr=False)
    #: what the token is for, for messages (never a secret)
    purpose: str = ""
    #: identifies the answer across requests whose body changes (a JWT's iat): same key, same token
    cache_key: str = ""
    #: how the answer reads: ``json`` (an OAuth token response) or ``aws_sts`` (STS XML: the answer is
    #: ``{AccessKeyId, SecretAccessKey, SessionToken, expires_in}``)
    answer: str = "json"
    #: the HTTP method (``GET`` sends no body)
    method: str = "POST"
    #: how long (seconds) an answer without ``expires_in`` stays usable (a login session that expires when idle);
    #: 0: used once, not kept
    keep_for: float = 0.0


#: Sends a ``TokenRequest`` and returns the provider's JSON answer (given by the lifecycle layer: cached, shared).
TokenFetcher = Callable[[TokenRequest], Mapping[str, Any]]


@attrs.frozen
class Context:
    """The clock (epoch seconds) and, for the types that exchange a token first, how to fetch it."""

    now: float
    fetch_token: TokenFetcher | None = None


AuthFunction = Callable[[Mapping[str, Any], Options, Context], Options]


def cache_key(*parts: Any) -> str:
    """A :attr:`TokenRequest.cache_key` naming the credentials a token is fetched with (hashed: no secret in the
    clear)."""
    return hashlib.sha256("\x00".join(text(p) for p in parts).encode("utf-8")).hexdigest()


def fetch(ctx: Context, request: TokenRequest) -> Mapping[str, Any]:
    """The answer to a token or login request, through the context's (caching, shared) fetcher."""
    if ctx.fetch_token is None:
        raise CodeAuthError(f"{request.purpose}: fetching a token needs a token fetcher")
    return ctx.fetch_token(request)


def fetch_token_field(ctx: Context, request: TokenRequest, name: str = "access_token") -> str:
    """The ``name`` field of the answer, which must be a non-empty string (n8n would send ``Bearer undefined``;
    FluxNex says what is missing)."""
    token = fetch(ctx, request).get(name)
    if not isinstance(token, str) or not token:
        raise CodeAuthError(f"{request.purpose}: the token request answered without a {name}")
    return token
