"""Nodes S to Z that log in before the request, or put the secret in the URL's path (n8n-nodes-base 2.41.2).

- ``strapiApi`` and ``taigaApi`` POST the user's login as JSON and send the answer's JWT as a Bearer token;
  ``whatsAppTriggerApi`` exchanges the app's client id and secret (client credentials, a form) for an app
  token. The login goes through ``Context.fetch_token`` (the lifecycle layer sends it; these answers carry no
  ``expires_in``, so, as in n8n, every request logs in again).
- ``telegramApi`` addresses ``<baseUrl>/bot<token>/<method>`` (files: ``<baseUrl>/file/bot<token>/<path>``) and
  ``signl4Api`` ``https://connect.signl4.com/webhook/<teamSecret>``: the caller addresses the URL without the
  secret (``base_url`` has none) and the secret is put into the path here, so it is in no URL the caller
  builds, logs or sees in an error (the session shows the caller's URL, see :mod:`fluxnex.api.session`).
- ``wiseApi`` sends ``Bearer <apiToken>``; when Wise answers that a request needs Strong Customer
  Authentication, the session sends it again signed (``challenge``, :func:`wise_sca`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from requests.utils import requote_uri

from fluxnex.n8n.code_auth._context import Context, TokenRequest, cache_key, fetch_token_field
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, form_encode, get, spread, text, truthy
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import Creds, bearer_auth
from fluxnex.n8n.code_auth.nodes.services_s_z import trim_slash
from fluxnex.n8n.expressions import UNDEFINED

_JSON = "application/json"
SIGNL4_WEBHOOK = "https://connect.signl4.com/webhook"


def _json(fields: Mapping[str, Any]) -> str:
    """``JSON.stringify(fields)`` (``undefined`` fields left out)."""
    return json.dumps({k: v for k, v in fields.items() if v is not UNDEFINED}, separators=(",", ":"),
                      ensure_ascii=False)


def strapi_root(c: Creds) -> str:
    url = trim_slash(get(c, "url"))
    return f"{url}/api" if get(c, "apiVersion") == "v4" else url


def strapi(c: Creds, o: Options, ctx: Context) -> Options:
    """``getToken``: POST ``{identifier: email, password}`` to ``<root>/auth/local``; ``Bearer <jwt>``."""
    login = f"{strapi_root(c)}/auth/local"
    body = _json({"identifier": get(c, "email"), "password": get(c, "password")})
    request = TokenRequest(url=login, body=body, headers={"content-type": _JSON}, purpose="strapiApi",
                           cache_key=cache_key("strapiApi", login, body))
    jwt = fetch_token_field(ctx, request, "jwt")
    return bearer_auth(o, jwt)


def taiga_root(c: Creds) -> str:
    url = get(c, "url")
    return f"{text(url)}/api/v1" if truthy(url) else "https://api.taiga.io/api/v1"


def taiga(c: Creds, o: Options, ctx: Context) -> Options:
    """``getAuthorization``: POST ``{type: 'normal', password, username}`` to ``<root>/auth``; Bearer
    ``auth_token``."""
    login = f"{taiga_root(c)}/auth"
    body = _json({"type": "normal", "password": get(c, "password"), "username": get(c, "username")})
    request = TokenRequest(url=login, body=body, headers={"Content-Type": _JSON}, purpose="taigaApi",
                           cache_key=cache_key("taigaApi", login, body))
    token = fetch_token_field(ctx, request, "auth_token")
    return bearer_auth(o, token)


WHATSAPP_TOKEN_URL = "https://graph.facebook.com/v19.0/oauth/access_token"


def whatsapp(c: Creds, o: Options, ctx: Context) -> Options:
    """``appAccessTokenRead``: client credentials (form) for an app token; ``Bearer <access_token>``."""
    body = form_encode([("client_id", text(get(c, "clientId"))), ("client_secret", text(get(c, "clientSecret"))),
                        ("grant_type", "client_credentials")])
    token = fetch_token_field(ctx, TokenRequest(url=WHATSAPP_TOKEN_URL, body=body,
                                     headers={"content-type": "application/x-www-form-urlencoded"},
                                     purpose="whatsAppTriggerApi", cache_key=cache_key("whatsAppTriggerApi", body)),
                   "access_token")
    return bearer_auth(o, token)


def wise_root(c: Creds) -> str:
    return ("https://api.transferwise.com/" if get(c, "environment") == "live"
            else "https://api.sandbox.transferwise.tech/")


def wise(c: Creds, o: Options, _: Context) -> Options:
    """``Bearer <apiToken>``."""
    return bearer_auth(o, text(get(c, "apiToken")))


def wise_sca(c: Creds, status: int, answer: Mapping[str, str]) -> dict[str, str] | None:
    """A 403 with ``x-2fa-approval`` asks for Strong Customer Authentication: the node signs the one-time token
    (RSA-SHA256, the credential's private key, base64) and sends the request again with ``X-Signature`` and the
    token. Without a private key n8n throws, as this does."""
    token = next((v for k, v in answer.items() if k.lower() == "x-2fa-approval"), None)
    if status != 403 or not token:
        return None
    key_pem = get(c, "privateKey")
    if not truthy(key_pem):
        raise CodeAuthError("wiseApi: this request requires Strong Customer Authentication (SCA): add a key pair "
                            "to the Wise account and its private key to the credentials")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_pem_private_key(text(key_pem).encode("utf-8"), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CodeAuthError("wiseApi: Error signing SCA request, check your private key (a PEM RSA private key)")
    signature = key.sign(token.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return {"X-Signature": base64.b64encode(signature).decode("ascii"), "x-2fa-approval": token}


def _rest(url: str, base: str) -> str | None:
    """The part of ``url``'s path below ``base`` (no leading slash), None when ``url`` is not under it."""
    b, u = urlsplit(base), urlsplit(url)
    if (b.scheme.lower(), b.netloc.lower()) != (u.scheme.lower(), u.netloc.lower()) or not b.netloc:
        return None
    root = b.path.rstrip("/")
    if u.path != root and not u.path.startswith(root + "/"):
        return None
    return u.path[len(root):].lstrip("/")


def _with_path(o: Options, url: str) -> Options:
    """``o`` sent to ``url`` (its query kept: the adapter takes a returned ``url`` as the whole URL)."""
    o = copy(o)
    pairs = [(k, text(x)) for k, v in spread(o.get("qs")).items() for x in (v if isinstance(v, list) else [v])]
    o["url"] = requote_uri(url) + (f"?{urlencode(pairs)}" if pairs else "")
    return o


def telegram(c: Creds, o: Options, _: Context) -> Options:
    """``<baseUrl>/bot<accessToken>/<method>``; ``<baseUrl>/file/bot<accessToken>/<file_path>`` for a file."""
    base = text(get(c, "baseUrl"))
    rest = _rest(text(o.get("uri")), base)
    if rest is None:
        raise CodeAuthError("telegramApi: the request is not addressed under the credential's base URL")
    token = text(get(c, "accessToken"))
    if rest.startswith("file/"):
        return _with_path(o, f"{base}/file/bot{token}/{rest[len('file/'):]}")
    return _with_path(o, f"{base}/bot{token}/{rest}")


def signl4(c: Creds, o: Options, _: Context) -> Options:
    """``https://connect.signl4.com/webhook/<teamSecret>``."""
    rest = _rest(text(o.get("uri")), SIGNL4_WEBHOOK)
    if rest is None:
        raise CodeAuthError(f"signl4Api: requests go to {SIGNL4_WEBHOOK}")
    return _with_path(o, f"{SIGNL4_WEBHOOK}/{text(get(c, 'teamSecret'))}" + (f"/{rest}" if rest else ""))


NODES: dict[str, NodeAuth] = {
    "signl4Api": NodeAuth(signl4, lambda c: SIGNL4_WEBHOOK, "nodes/Signl4/GenericFunctions.js:SIGNL4ApiRequest"),
    "strapiApi": NodeAuth(strapi, strapi_root, "nodes/Strapi/Strapi.node.js:Strapi#execute"),
    "taigaApi": NodeAuth(taiga, taiga_root, "nodes/Taiga/GenericFunctions.js:taigaApiRequest"),
    "telegramApi": NodeAuth(telegram, lambda c: text(get(c, "baseUrl")),
                            "nodes/Telegram/GenericFunctions.js:apiRequest"),
    "whatsAppTriggerApi": NodeAuth(whatsapp, lambda c: "https://graph.facebook.com/v19.0",
                                   "nodes/WhatsApp/GenericFunctions.js:appWebhookSubscriptionList"),
    "wiseApi": NodeAuth(wise, wise_root, "nodes/Wise/GenericFunctions.js:wiseApiRequest", challenge=wise_sca),
}
