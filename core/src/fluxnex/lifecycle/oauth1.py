"""OAuth 1.0a (RFC 5849) as n8n's ``oAuth1Api`` uses it: the three-legged flow and request signing, by oauthlib.

n8n keeps the access token response in ``oauthTokenData`` (``oauth_token``, ``oauth_token_secret`` and whatever
else the provider returns, such as X's ``user_id``). Every request of a type extending ``oAuth1Api`` is signed
with the consumer key and secret and that token: ``Authorization: OAuth ...`` over the method, the URL with its
query and a form-encoded body (a JSON body is not signed, as in n8n's ``oauth-1.0a``). ``signatureMethod`` is one
of n8n's ``HMAC-SHA1``, ``HMAC-SHA256``, ``HMAC-SHA512``; a plugin type may also declare ``RSA-SHA1`` (its
``privateKey`` property holds the PEM key) or ``PLAINTEXT``.

The flow (``authorize``): a request token is asked for with the loopback callback (``oauth_callback``), the person
approves at ``authUrl?oauth_token=...``, the provider redirects to 127.0.0.1 with ``oauth_token`` and
``oauth_verifier``, and the access token request is signed with the request token and the verifier. Its legs
(``request_token``, ``callback_problem``, ``access_token``) also serve the connect service's hosted pages
(``fluxnex.server``), whose callback is the service's own ``/oauth/callback``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fluxnex.contract.errors import FluxnexError
from fluxnex.contract.hookspecs import hookimpl

if TYPE_CHECKING:
    import requests

__all__ = ["OAUTH1_BASE", "SIGNATURE_METHODS", "OAuth1FlowError", "access_token", "authenticate", "authorization_url",
           "authorize", "callback_problem", "effective_data", "implemented", "request_token", "sign", "signer"]

OAUTH1_BASE: Final = "oAuth1Api"
#: What ``signatureMethod`` may name (n8n's options first).
SIGNATURE_METHODS: Final = ("HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "RSA-SHA1", "PLAINTEXT")
_FORM: Final = "application/x-www-form-urlencoded"


def implemented() -> set[str]:
    """The OAuth1 types of n8n's catalog FluxNex connects and signs: ``oAuth1Api`` and every type extending it."""
    from fluxnex.contract.plugins import get_registry

    registry = get_registry()
    return {name for name in registry.names() if registry.is_a(name, OAUTH1_BASE)}


def signer(data: Mapping[str, Any], *, token: Mapping[str, Any] | None = None, callback_uri: str | None = None,
           verifier: str | None = None) -> Any:
    """An ``oauthlib.oauth1.Client`` for the consumer in ``data`` (effective data) and ``token``."""
    from oauthlib import oauth1

    method = str(data.get("signatureMethod") or "HMAC-SHA1")
    if method not in SIGNATURE_METHODS:
        raise FluxnexError(f"signatureMethod {method!r} is not one of {', '.join(SIGNATURE_METHODS)}")
    token = token or {}
    return oauth1.Client(
        str(data.get("consumerKey") or ""),
        client_secret=str(data.get("consumerSecret") or ""),
        resource_owner_key=token.get("oauth_token"),
        resource_owner_secret=token.get("oauth_token_secret"),
        callback_uri=callback_uri,
        verifier=verifier,
        signature_method=method,
        rsa_key=str(data.get("privateKey")) if method == "RSA-SHA1" else None,
    )


def sign(client: Any, request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Sign ``request`` in place with ``client``: its method, URL and a form body; adds ``Authorization``."""
    content_type = str(request.headers.get("Content-Type", ""))
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    body = raw if raw and content_type.startswith(_FORM) else None
    headers = {"Content-Type": content_type} if body is not None else {}
    _, signed, _ = client.sign(request.url, http_method=request.method or "GET", body=body, headers=headers)
    request.headers["Authorization"] = signed["Authorization"]
    return request


def effective_data(credential_type: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """``credential_type``'s effective data for ``data``; a ``privateKey`` (RSA-SHA1) kept if it declares none."""
    effective: dict[str, Any] = credential_type.effective_data(dict(data))
    if credential_type.get_property("privateKey") is None and data.get("privateKey"):
        effective["privateKey"] = data["privateKey"]
    return effective


@hookimpl
def authenticate(credential_type: Any, data: dict[str, Any], request: Any) -> Any:
    """Sign requests of ``oAuth1Api`` and the types extending it with the stored access token."""
    from fluxnex.contract.plugins import get_registry

    registry = get_registry()
    name = credential_type.name
    if name != OAUTH1_BASE and not (name in registry and registry.is_a(name, OAUTH1_BASE)):
        return None
    token = data.get("oauthTokenData")
    if not isinstance(token, Mapping) or not token.get("oauth_token"):
        raise FluxnexError(f"this {name} connection has no OAuth1 access token (oauthTokenData.oauth_token)")
    return sign(signer(effective_data(credential_type, data), token=token), request)


# -- the three-legged flow --------------------------------------------------------------------------------


class OAuth1FlowError(FluxnexError):
    """The OAuth1 flow did not complete (timeout, denied, a provider error); nothing was stored."""


def _post_signed(client: Any, url: str, http: requests.Session, timeout: float, step: str) -> dict[str, str]:
    import requests as _requests

    signed_url, headers, _ = client.sign(url, http_method="POST")
    where = urlunsplit(urlsplit(url)._replace(query="", fragment=""))
    try:
        response = http.post(signed_url, headers=headers, timeout=timeout, allow_redirects=False)
    except _requests.RequestException as exc:
        raise OAuth1FlowError(f"the {step} request to {where} failed ({type(exc).__name__}): nothing was stored") \
            from None
    if response.status_code >= 400:
        raise OAuth1FlowError(f"the {step} request to {where} answered HTTP {response.status_code}: nothing was "
                              "stored (check the consumer key and secret)")
    values = dict(parse_qsl(response.text, keep_blank_values=True))
    if not values.get("oauth_token") or "oauth_token_secret" not in values:
        raise OAuth1FlowError(f"the {step} response from {where} has no oauth_token: nothing was stored")
    return values


def authorization_url(auth_url: str, request_token: str) -> str:
    """``authUrl`` with ``oauth_token`` added to its query (Trello's carries ``scope`` and ``name`` already)."""
    parts = urlsplit(auth_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("oauth_token", request_token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def request_token(effective: Mapping[str, Any], callback_uri: str, *, http: requests.Session,
                  timeout: float) -> dict[str, str]:
    """The first leg: a request token (``oauth_token``, ``oauth_token_secret``) for ``callback_uri``."""
    return _post_signed(signer(effective, callback_uri=callback_uri), str(effective.get("requestTokenUrl")), http,
                        timeout, "request token")


def callback_problem(params: Mapping[str, str], request_token: str) -> str | None:
    """Why the callback ``params`` cannot finish the flow of ``request_token`` (None when they can)."""
    if "denied" in params or "error" in params:
        return "the provider did not grant access: nothing was stored"
    if params.get("oauth_token") != request_token:
        return "the callback's oauth_token is not this flow's request token: nothing was stored"
    if not params.get("oauth_verifier"):
        return "the callback carried no oauth_verifier: nothing was stored"
    return None


def access_token(effective: Mapping[str, Any], temporary: Mapping[str, str], verifier: str, *,
                 http: requests.Session, timeout: float) -> dict[str, str]:
    """The last leg: the access token response, for the request token ``temporary`` and the ``verifier``."""
    client = signer(effective, token=temporary, verifier=verifier)
    return _post_signed(client, str(effective.get("accessTokenUrl")), http, timeout, "access token")


def authorize(effective: Mapping[str, Any], *, http: requests.Session, http_timeout: float,
              open_url: Callable[[str], object] | None, timeout: float, port: int) -> dict[str, Any]:
    """Run the three-legged flow through a loopback callback; the access token response as ``oauthTokenData``."""
    from fluxnex.lifecycle.connect import loopback

    with loopback(port, name="fluxnex-oauth1") as (callback_uri, callback):
        temporary = request_token(effective, callback_uri, http=http, timeout=http_timeout)
        if open_url is not None:
            open_url(authorization_url(str(effective.get("authUrl")), temporary["oauth_token"]))
        if not callback.done.wait(timeout):
            raise OAuth1FlowError(f"no authorization arrived within {timeout:g} s: nothing was stored")
    params = callback.params or {}
    problem = callback_problem(params, temporary["oauth_token"])
    if problem is not None:
        raise OAuth1FlowError(problem)
    access = access_token(effective, temporary, params["oauth_verifier"], http=http, timeout=http_timeout)
    return {"oauthTokenData": access}
