"""What a code-authenticated type's function is given besides the credentials and the request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from fluxnex.n8n.code_auth._js import Options


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


#: Sends a ``TokenRequest`` and returns the provider's JSON answer (given by the lifecycle layer: cached, shared).
TokenFetcher = Callable[[TokenRequest], Mapping[str, Any]]


@attrs.frozen
class Context:
    """The clock (epoch seconds) and, for the types that exchange a token first, how to fetch it."""

    now: float
    fetch_token: TokenFetcher | None = None


AuthFunction = Callable[[Mapping[str, Any], Options, Context], Options]
