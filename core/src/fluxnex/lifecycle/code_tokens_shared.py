"""Tokens that code-authenticated types fetch first, kept with the connection and shared through its row lease.

n8n's code for ``googleApi`` (from the HTTP node), ``ciscoSecureEndpointApi`` and ``awsAssumeRole`` (and any other
code-authenticated type whose function calls ``Context.fetch_token``) sends a token request before the request
itself. Here those answers are the connection's expirable token, as n8n's pre-authentication token is
(:mod:`fluxnex.lifecycle.preauth`):

- ``refresh_token`` (this module's hook) runs the type's function on a probe request with a fetcher that sends
  every token request it asks for (through the provider session) and records each answer, with its expiry, in
  the data field ``codeTokenData`` (``{key: {"answer": ..., "expires_at": epoch or null}}``, keyed by the
  request's ``cache_key``, which hashes the credentials; encrypted with the rest of the row). So a token is
  fetched through the exactly-once protocol of :mod:`fluxnex.lifecycle.refresh`: in-process single flight,
  then the row lease, persisted before it is used; every thread and process reads the stored answer.
- ``expires_at`` gives ``TokenPolicy`` the row's expiry: the probe run with the stored answers only; an answer it
  needs that is missing (a new connection, new credentials) makes the row due now (1970), else the earliest
  known expiry of the answers it used, else none (an answer without an expiry is reused until a 401).
- ``fetcher`` is what the ``authenticate`` hook gives the function: the stored answer while it has more than
  ``HANDOVER_MARGIN`` seconds to live, else the process cache (``fluxnex.lifecycle.code_tokens``; a request
  whose token key the probe cannot know, such as an AWS call with a per-request ``_region``).
- ``renews_on_401``: a connection holding ``codeTokenData`` renews on a 401 (``ConnectionSession`` forces one
  re-fetch, once per row version across processes, and retries once).

Token endpoint failures: 400, 401 and 403 are permanent (the credentials were refused: the connection becomes
EXPIRED until they are updated); anything else is transient.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from fluxnex.contract.errors import FluxnexError, RefreshError
from fluxnex.contract.hookspecs import hookimpl
from fluxnex.lifecycle.code_tokens import TokenFetchError, send_token, token_key
from fluxnex.lifecycle.tokens import HANDOVER_MARGIN
from fluxnex.n8n.validation import CODE_TOKENS_FIELD

if TYPE_CHECKING:
    import requests

    from fluxnex.contract.schema import CredentialType
    from fluxnex.n8n.code_auth import TokenFetcher, TokenRequest

__all__ = ["CODE_TOKENS_FIELD", "expires_at", "fetch", "fetcher", "refresh_token", "renews_on_401"]

#: The probe request the type's function authenticates to learn which tokens it needs (never sent).
_PROBE: Final = {"method": "GET", "url": "https://fluxnex.invalid/", "headers": {}}
_PERMANENT_STATUS: Final = frozenset({400, 401, 403})
_TIMEOUT: Final = 30.0


class _Missing(Exception):
    """The probe needs a token answer that is not stored (or no longer fresh)."""


def _stored(data: Mapping[str, Any]) -> Mapping[str, Any]:
    entries = data.get(CODE_TOKENS_FIELD)
    return entries if isinstance(entries, Mapping) else {}


def _usable(entry: Any, now: float, margin: float) -> Mapping[str, Any] | None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("answer"), Mapping):
        return None
    expiry = entry.get("expires_at")
    if isinstance(expiry, int | float) and not isinstance(expiry, bool) and expiry - margin <= now:
        return None
    answer: Mapping[str, Any] = entry["answer"]
    return answer


def _probe(ct: CredentialType, data: Mapping[str, Any], fetch_token: TokenFetcher, now: float) -> bool:
    """Run ``ct``'s function on the probe request with ``fetch_token``; whether it is a code type at all."""
    from fluxnex.n8n.code_auth import Context, get_implementation

    function = get_implementation(ct.name)
    if function is None:
        return False
    function(ct.effective_data(dict(data)), dict(_PROBE, headers={}), Context(now=now, fetch_token=fetch_token))
    return True


def expires_at(ct: CredentialType, data: Mapping[str, Any], *, now: float | None = None) -> tuple[bool, float | None]:
    """(whether ``ct`` fetches tokens with ``data``, the epoch when the stored ones expire: 0 when one is missing)."""
    from fluxnex.n8n.code_auth import CodeAuthError

    moment = time.time() if now is None else now
    stored = _stored(data)
    used: list[Mapping[str, Any]] = []

    def lookup(request: TokenRequest) -> Mapping[str, Any]:
        entry = stored.get(token_key(request))
        answer = _usable(entry, moment, 0.0)
        if answer is None or not isinstance(entry, Mapping):
            raise _Missing
        used.append(entry)
        return answer

    try:
        if not _probe(ct, data, lookup, moment):
            return False, None
    except _Missing:
        return True, 0.0
    except (CodeAuthError, FluxnexError, ValueError, TypeError, KeyError):
        if not used:
            return False, None  # the credentials cannot authenticate a request: nothing to schedule
        # the probe failed after its token requests (the probe URL, not the tokens): their expiries still hold
    expiries = [float(e["expires_at"]) for e in used if isinstance(e.get("expires_at"), int | float)]
    return bool(used), (min(expiries) if expiries else None)


def fetch(ct: CredentialType, data: Mapping[str, Any], http: requests.Session, *, now: float | None = None,
          timeout: float | None = _TIMEOUT) -> dict[str, Any] | None:
    """``data`` with every token ``ct``'s function asks for fetched anew in ``codeTokenData``; None if it asks none."""
    from fluxnex.n8n.code_auth import CodeAuthError

    moment = time.time() if now is None else now
    fetched: dict[str, Any] = {}

    def send(request: TokenRequest) -> Mapping[str, Any]:
        try:
            answer = send_token(http, request, timeout=timeout)
        except TokenFetchError as exc:
            raise RefreshError(str(exc), transient=exc.status not in _PERMANENT_STATUS) from None
        lifetime = answer.get("expires_in")
        known = isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0
        fetched[token_key(request)] = {"answer": dict(answer),
                                       "expires_at": moment + float(lifetime or 0) if known else None}
        return answer

    try:
        _probe(ct, data, send, moment)
    except CodeAuthError as exc:
        if not fetched:
            raise RefreshError(f"{ct.name}: {exc}", transient=False) from None
        raise RefreshError(f"{ct.name}: {exc}", transient=True) from None
    if not fetched:
        return None
    return {**data, CODE_TOKENS_FIELD: fetched}


def fetcher(data: Mapping[str, Any], fallback: TokenFetcher, *, now: float | None = None) -> TokenFetcher:
    """A fetcher answering from ``data``'s stored tokens while they live, else from ``fallback``."""
    stored = _stored(data)
    moment = time.time() if now is None else now

    def fetch_token(request: TokenRequest) -> Mapping[str, Any]:
        answer = _usable(stored.get(token_key(request)), moment, HANDOVER_MARGIN)
        return answer if answer is not None else fallback(request)

    return fetch_token


def renews_on_401(data: Mapping[str, Any]) -> bool:
    """Whether a connection with ``data`` holds fetched code tokens (a 401 then re-fetches them once)."""
    return bool(_stored(data))


@hookimpl
def refresh_token(credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
    """Fetch the tokens of a code-authenticated type whose function asks for some (None for any other type)."""
    from fluxnex.n8n.code_auth import get_implementation

    if get_implementation(credential_type.name) is None:
        return None
    return fetch(credential_type, data, http)
