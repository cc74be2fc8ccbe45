"""Nodes whose request function sends a token request or a login first (n8n-nodes-base 2.41.2): PayPal
(client credentials, then a Bearer token), Odoo (a JSON-RPC ``common.login``, then the database, user id and
password at the head of an ``object`` call's arguments) and SeaTable (the API token exchanged, by a GET, for a
base access token, which also fills the ``{{dtable_uuid}}`` placeholders of the path).

The first request is a :class:`TokenRequest` sent by ``Context.fetch_token`` (cached by the lifecycle layer while
its answer says it is fresh: PayPal's ``expires_in``; Odoo's login and SeaTable's exchange carry no expiry, so
they are sent for each request, as n8n sends them for each call).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fluxnex.n8n.code_auth._context import Context, TokenRequest, cache_key, fetch_token_field
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, basic, copy, get, request_url, text, truthy
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import headers
from fluxnex.n8n.expressions import UNDEFINED

Creds = Mapping[str, Any]

_PAYPAL = {"sanbox": "https://api-m.sandbox.paypal.com", "live": "https://api-m.paypal.com"}


def _paypal_root(c: Creds) -> str:
    """``getEnvironment``: ``sanbox`` (n8n's spelling) or ``live``."""
    root = _PAYPAL.get(get(c, "env")) if isinstance(get(c, "env"), str) else None
    if root is None:
        raise CodeAuthError("payPalApi: the environment must be 'sanbox' or 'live'")
    return root


def pay_pal(c: Creds, o: Options, ctx: Context) -> Options:
    """``getAccessToken`` (client credentials, basic auth) then ``Authorization: Bearer``."""
    root = _paypal_root(c)
    client, secret = get(c, "clientId"), get(c, "secret")
    token = fetch_token_field(ctx, TokenRequest(
        url=f"{root}/v1/oauth2/token", body="grant_type=client_credentials",
        headers={"Authorization": basic(client, secret), "Content-Type": "application/x-www-form-urlencoded"},
        purpose="payPalApi", cache_key=cache_key("payPalApi", root, client, secret)))
    o = copy(o)
    headers(o)["Authorization"] = f"Bearer {token}"
    return o


_RPC_HEADERS = {"Connection": "keep-alive", "Accept": "*/*", "Content-Type": "application/json"}


def _odoo_root(c: Creds) -> str:
    return re.sub(r"/$", "", text(get(c, "url")))


def _odoo_db(c: Creds, root: str) -> str:
    """``odooGetDBName``: the database, else the URL's first host label."""
    db = get(c, "db")
    if truthy(db):
        return text(db)
    host = urlsplit(root).hostname
    if not urlsplit(root).scheme or not host:
        raise CodeAuthError("odooApi: the URL is not absolute (TypeError: Invalid URL)")
    return host.split(".")[0]


def _json(value: Any) -> Any:
    return None if value is UNDEFINED else value


def odoo(c: Creds, o: Options, ctx: Context) -> Options:
    """A JSON-RPC ``object`` call (``{"params": {"service": "object", "method": "execute", "args": [model, method,
    ...]}}``) gets ``[db, uid, password]`` in front of its arguments, ``uid`` from a ``common.login`` sent first
    with the call's JSON-RPC id; other bodies (``common``, ``db`` calls) are left as they are."""
    body = o.get("body")
    params = body.get("params") if isinstance(body, dict) else None
    if not isinstance(params, dict) or params.get("service") != "object":
        return o
    args = params.get("args", [])
    if not isinstance(args, list):
        raise CodeAuthError("odooApi: the JSON-RPC call's params.args must be a list")
    assert isinstance(body, dict)  # narrowed above
    root = _odoo_root(c)
    db = _odoo_db(c, root)
    username, password = _json(get(c, "username")), _json(get(c, "password"))
    call_id = body.get("id")
    login = {"jsonrpc": "2.0", "method": "call",
             "id": call_id if isinstance(call_id, int | str) else secrets.randbelow(100),
             "params": {"service": "common", "method": "login", "args": [db, username, password]}}
    if ctx.fetch_token is None:
        raise CodeAuthError("odooApi: logging in needs a token fetcher")
    answer = ctx.fetch_token(TokenRequest(
        url=f"{root}/jsonrpc", body=json.dumps(login, separators=(",", ":"), ensure_ascii=False),
        headers=dict(_RPC_HEADERS), purpose="odooApi", cache_key=cache_key("odooApi", root, db, username, password)))
    error = answer.get("error")
    if error:
        data = error.get("data") if isinstance(error, dict) else None
        message = data.get("message") if isinstance(data, dict) else None
        raise CodeAuthError(f"odooApi: Odoo refused the login: {text(message) if message else 'error'}")
    uid = answer.get("result")
    if not isinstance(uid, int) or isinstance(uid, bool):
        raise CodeAuthError("odooApi: Odoo refused the login (check the database, username and password)")
    o = copy(o)
    o["body"] = {**body, "params": {**params, "args": [db, uid, password, *args]}}
    h = headers(o)
    h["Connection"] = "keep-alive"
    return o


_SEATABLE_CLOUD = "https://cloud.seatable.io"
_PLACEHOLDER = re.compile(r"(?:\{|%7B){2}(?: |%20)*(access_token|dtable_uuid|server)(?: |%20)*(?:\}|%7D){2}",
                          re.IGNORECASE)


def _seatable_root(c: Creds) -> str:
    """``resolveBaseUri``: SeaTable Cloud, or the self-hosted domain without one trailing slash."""
    if get(c, "environment") == "cloudHosted":
        return _SEATABLE_CLOUD
    domain = get(c, "domain")
    return text(domain)[:-1] if isinstance(domain, str) and domain.endswith("/") else text(domain)


def _uses_api_token(endpoint: str) -> bool:
    return (endpoint.startswith("/api/v2.1/dtable/app-download-link/")
            or endpoint == "/api/v2.1/dtable/app-upload-link/" or endpoint.startswith("/seafhttp/upload-api"))


def sea_table(c: Creds, o: Options, ctx: Context) -> Options:
    """The base access token (``getBaseAccessToken``) as ``Authorization: Token``, except the upload/download-link
    endpoints (the API token) and file downloads (no header); ``{{dtable_uuid}}``/``{{access_token}}`` in the path
    become the exchange's values."""
    root = _seatable_root(c)
    if ctx.fetch_token is None:
        raise CodeAuthError("seaTableApi: the base access token needs a token fetcher")
    api_token = text(get(c, "token"))
    base = ctx.fetch_token(TokenRequest(
        url=f"{root}/api/v2.1/dtable/app-access-token/", body="", headers={"Authorization": f"Token {api_token}"},
        purpose="seaTableApi", cache_key=cache_key("seaTableApi", root, api_token), method="GET"))
    url = request_url(o)
    endpoint = url[len(root):] if url.startswith(root) else urlsplit(url).path

    def value(match: re.Match[str]) -> str:
        found = base.get(match.group(1))
        return quote(text(found), safe="") if truthy(found) else match.group(0)

    o = copy(o)
    replaced = _PLACEHOLDER.sub(value, url)
    if replaced != url:
        pairs = [(k, text(x)) for k, v in (o.get("qs") or {}).items() for x in (v if isinstance(v, list) else [v])]
        o["url"] = replaced + ("?" + urlencode(pairs) if pairs else "")
    if endpoint.startswith("/seafhttp/files/"):
        return o
    access = base.get("access_token")
    if not _uses_api_token(endpoint) and (not isinstance(access, str) or not access):
        raise CodeAuthError("seaTableApi: the base access token request answered without an access_token")
    headers(o)["Authorization"] = f"Token {api_token if _uses_api_token(endpoint) else access}"
    return o


NODES: dict[str, NodeAuth] = {
    "payPalApi": NodeAuth(pay_pal, lambda c: f"{_paypal_root(c)}/v1",
                          "nodes/PayPal/GenericFunctions.js:payPalApiRequest"),
    "odooApi": NodeAuth(odoo, _odoo_root, "nodes/Odoo/v2/transport/index.js:odooApiRequest"),
    "seaTableApi": NodeAuth(sea_table, _seatable_root, "nodes/SeaTable/v2/GenericFunctions.js:seaTableApiRequest"),
}
