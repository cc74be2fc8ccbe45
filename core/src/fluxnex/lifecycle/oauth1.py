"""OAuth 1.0a (RFC 5849) as n8n's ``oAuth1Api`` uses it: the three-legged flow and request signing, by oauthlib.

n8n keeps the access token response in ``oauthTokenData`` (``oauth_token``, ``oauth_token_secret`` and whatever
else the provider returns, such as X's ``user_id``). Every request of a type extending ``oAuth1Api`` is signed
with the consumer key and secret and that token: ``Authorization: OAuth ...`` over the method, the URL with its
query and a form-encoded body (a JSON body is not signed, as in n8n's ``oauth-1.0a``). ``signatureMethod`` is one
of n8n's ``HMAC-SHA1``, ``HMAC-SHA256``, ``HMAC-SHA512``; a plugin type may also declare ``RSA-SHA1`` (its
``privateKey`` property holds the PEM key) or ``PLAINTEXT``.

The flow (``authorize``): a request token is asked for with the loopback callback (``oauth_callback``), the person
approves at ``authUrl?oauth_token=...``, the provider redirects to 127.0.0.1 with ``oauth_token`` and
``oauth_verifier``, and the access token request is signed with the request token and the verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fluxnex.contract.errors import FluxnexError
from fluxnex.contract.hookspecs import hookimpl

if TYPE_CHECKING:
    import requests

__all__ = ["OAUTH1_BASE", "SIGNATURE_METHODS", "authenticate", "authorize", "implemented", "sign", "signer"]

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


def _effective(credential_type: Any, data: dict[str, Any]) -> dict[str, Any]:
    effective: dict[str, Any] = credential_type.effective_data(data)
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
    return sign(signer(_effective(credential_type, data), token=token), request)


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


def authorize(effective: Mapping[str, Any], *, http: requests.Session, http_timeout: float,
              open_url: Callable[[str], object] | None, timeout: float, port: int) -> dict[str, Any]:
    """Run the three-legged flow through a loopback callback; the access token response as ``oauthTokenData``."""
    from fluxnex.lifecycle.connect import loopback

    with loopback(port, name="fluxnex-oauth1") as (callback_uri, callback):
        temporary = _post_signed(signer(effective, callback_uri=callback_uri), str(effective.get("requestTokenUrl")),
                                 http, http_timeout, "request token")
        if open_url is not None:
            open_url(authorization_url(str(effective.get("authUrl")), temporary["oauth_token"]))
        if not callback.done.wait(timeout):
            raise OAuth1FlowError(f"no authorization arrived within {timeout:g} s: nothing was stored")
    params = callback.params or {}
    if "denied" in params or "error" in params:
        raise OAuth1FlowError("the provider did not grant access: nothing was stored")
    if params.get("oauth_token") != temporary["oauth_token"]:
        raise OAuth1FlowError("the callback's oauth_token is not this flow's request token: nothing was stored")
    verifier = params.get("oauth_verifier")
    if not verifier:
        raise OAuth1FlowError("the callback carried no oauth_verifier: nothing was stored")
    client = signer(effective, token=temporary, verifier=verifier)
    access = _post_signed(client, str(effective.get("accessTokenUrl")), http, http_timeout, "access token")
    return {"oauthTokenData": access}
