"""Pre-authentication over the network: n8n's ``preAuthentication`` token fetched, as a built-in plugin.

``fetch`` sends the request :mod:`fluxnex.n8n.preauth` builds for a type (through the provider session, whose
overall deadline bounds it) and returns the connection's data with the new token in its expirable field. The
hooks below make that the type's ``refresh_token``, so a token is fetched through the exactly-once protocol of
:mod:`fluxnex.lifecycle.refresh`: in-process single flight, then the row lease, persisted before it is used.
``TokenPolicy`` gives such a row ``expires_at`` = 1970 while the field is empty (due at once), the known expiry
when the answer had one, else none (reused until a request answers 401: ``ConnectionSession`` then forces one
re-fetch and retries once).

Failures: 400, 401 and 403 from the token endpoint (or credentials that cannot make a request) are permanent
(the stored credentials were refused: the connection becomes EXPIRED until they are updated); 429, 5xx, timeouts
and answers without a token are transient.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from fluxnex.contract.errors import RefreshError
from fluxnex.contract.hookspecs import hookimpl
from fluxnex.n8n import preauth
from fluxnex.n8n.preauth import PreAuthError, TokenRequest, TokenResponse

if TYPE_CHECKING:
    import requests

    from fluxnex.contract.schema import CredentialType

__all__ = ["authenticate", "fetch", "refresh_token", "send"]

_PERMANENT_STATUS: Final = frozenset({400, 401, 403})
#: Types whose ``authenticate`` is code in n8n: the token goes into ``Authorization: Bearer``.
_BEARER_IN_CODE: Final = frozenset({"atlassianServiceAccountApi", "microsoftEntraServicePrincipalApi",
                                    "salesforceJwtApi"})


def send(request: TokenRequest, http: requests.Session, *, timeout: float | None = None) -> TokenResponse:
    """Send ``request`` and read the answer (JSON body when it parses, else the text); errors as ``RefreshError``."""
    import requests as _requests

    kwargs: dict[str, Any] = {"headers": request.headers, "verify": request.verify, "allow_redirects": False}
    if request.json is not None:
        kwargs["json"] = request.json
    elif request.form is not None:
        kwargs["data"] = request.form
    if request.basic is not None:
        kwargs["auth"] = request.basic
    if timeout is not None:
        kwargs["timeout"] = timeout
    where = _host(request.url)
    try:
        response = http.request(request.method, request.url, **kwargs)
    except _requests.RequestException as exc:
        raise RefreshError(f"pre-authentication at {where} failed: {type(exc).__name__}", transient=True) from None
    headers: dict[str, list[str]] = {}
    raw = getattr(response.raw, "headers", None)
    for name in response.headers:
        values = raw.getlist(name) if raw is not None and hasattr(raw, "getlist") else [response.headers[name]]
        headers[name.lower()] = [str(v) for v in values]
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    status = response.status_code
    if status >= 400:
        retry_after = response.headers.get("Retry-After")
        transient = status not in _PERMANENT_STATUS and (status >= 500 or status == 429 or status == 408)
        raise RefreshError(
            f"pre-authentication at {where} answered HTTP {status}"
            + ("" if transient else ": the stored credentials were refused; update them"),
            transient=transient,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    return TokenResponse(status, headers, body)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the token endpoint"


def fetch(ct: CredentialType, data: dict[str, Any], http: requests.Session, *, now: float | None = None,
          timeout: float | None = None) -> dict[str, Any]:
    """``data`` with a freshly fetched token in ``ct``'s expirable field (and its known expiry)."""
    moment = time.time() if now is None else now
    try:
        request = preauth.token_request(ct, ct.effective_data(data), moment)
        answer = send(request, http, timeout=timeout)
        fields = preauth.parse_response(ct, answer, moment)
    except PreAuthError as exc:
        raise RefreshError(str(exc), transient=not exc.permanent) from None
    return {**data, **fields}


@hookimpl
def refresh_token(credential_type: Any, data: dict[str, Any], http: Any) -> dict[str, Any] | None:
    """Fetch a new pre-authentication token for the types of :func:`fluxnex.n8n.preauth.implemented`."""
    if not preauth.handles(credential_type):
        return None
    return fetch(credential_type, data, http)


@hookimpl
def authenticate(credential_type: Any, data: dict[str, Any], request: Any) -> Any:
    """n8n's code ``authenticate`` of the pre-authenticated types that have one: a Bearer token."""
    if credential_type.name not in _BEARER_IN_CODE or not preauth.handles(credential_type):
        return None
    token = data.get("accessToken")
    request.headers["Authorization"] = f"Bearer {'undefined' if token is None else token}"
    return request
