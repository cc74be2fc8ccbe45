"""Service nodes D to M that log in before their requests (n8n-nodes-base 2.41.2): ``fileMaker`` opens a Data
API session (a JSON POST with basic auth) and sends its token as a Bearer; ``haloPSAApi`` fetches a client
credentials token (a form POST) and sends it as a Bearer.

The logins are :class:`~fluxnex.n8n.code_auth.TokenRequest` values sent by ``Context.fetch_token`` (cached by the
lifecycle layer: HaloPSA's answer until its ``expires_in``, FileMaker's session, which expires after 15 idle
minutes, for ``keep_for``); n8n logs in again for each execution.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fluxnex.n8n.code_auth._context import Context, TokenRequest, cache_key, fetch, fetch_token_field
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, basic, form_encode, get, text
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import Creds, bearer_auth

#: FileMaker Server ends a Data API session after 15 minutes without a call; the cache keeps it a little less
FILEMAKER_SESSION_SECONDS = 14 * 60.0


def filemaker_root(c: Creds) -> str:
    return f"https://{text(get(c, 'host'))}/fmi/data/v1/databases/{text(get(c, 'db'))}"


def filemaker(c: Creds, o: Options, ctx: Context) -> Options:
    """``getToken``: POST ``.../sessions`` with basic auth (login, password) and ``fmDataSource``; the answer's
    ``response.token`` as a Bearer."""
    host, user, password = get(c, "host"), get(c, "login"), get(c, "password")
    source = {k: v for k, v in (("database", host), ("username", user), ("password", password))
              if v is not get({}, "")}  # JSON.stringify leaves undefined out
    answer = fetch(ctx, TokenRequest(
        url=f"{filemaker_root(c)}/sessions",
        body=json.dumps({"fmDataSource": [source]}, ensure_ascii=False, separators=(",", ":")),
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 "Authorization": basic(user, password)},
        purpose="fileMaker", cache_key=cache_key("fileMaker", host, get(c, "db"), user, password),
        keep_for=FILEMAKER_SESSION_SECONDS))
    response = answer.get("response")
    token = response.get("token") if isinstance(response, Mapping) else None
    if not isinstance(token, str) or not token:
        raise CodeAuthError("fileMaker: the Data API login answered without a session token")
    return bearer_auth(o, token)


def halo_auth_url(c: Creds) -> str:
    """``getAuthUrl`` (its ``'on-premise'`` never matches the option's value ``onPremise``: both hosting types
    use the authorisation server URL with the tenant)."""
    if get(c, "hostingType") == "on-premise":
        return f"{text(get(c, 'appUrl'))}/auth/token"
    return f"{text(get(c, 'authUrl'))}/token?tenant={text(get(c, 'tenant'))}"


def halo_psa(c: Creds, o: Options, ctx: Context) -> Options:
    """``getAccessTokens`` (client credentials, a form POST), then ``haloPSAApiRequest``'s Bearer."""
    fields = [(k, text(get(c, k))) for k in ("client_id", "client_secret")]
    fields += [("grant_type", "client_credentials"), ("scope", text(get(c, "scope")))]
    url = halo_auth_url(c)
    token = fetch_token_field(ctx, TokenRequest(
        url=url, body=form_encode(fields), headers={"Content-Type": "application/x-www-form-urlencoded"},
        purpose="haloPSAApi", cache_key=cache_key("haloPSAApi", url, *(v for _, v in fields))))
    return bearer_auth(o, token)


NODES: dict[str, NodeAuth] = {
    "fileMaker": NodeAuth(filemaker, filemaker_root, "nodes/FileMaker/GenericFunctions.js:layoutsApiRequest"),
    "haloPSAApi": NodeAuth(halo_psa, lambda c: text(get(c, "resourceApiUrl")),
                           "nodes/HaloPSA/HaloPSA.node.js:HaloPSA#methods.loadOptions.getHaloPSAAgents"),
}
