"""Nodes (Mandrill to SecurityScorecard) that add a header, a query parameter, basic auth or body fields built from
the credentials (n8n-nodes-base 2.41.2, each node's ``GenericFunctions.js``).

Each function restates the authentication part of one node's request function, plus the fixed non-shape headers
the node sends beside it (Medium's ``Accept-Charset``). Where the node writes the credentials into the body
(Mandrill, Paddle, Mocean), a request without a body gets one (a form for the form APIs); a body that is not an
object (text, a stream) cannot take them and is refused. The nodes whose first request fetches a token or logs in
(PayPal, Odoo, SeaTable) and the S3 signer are in :mod:`.services_m_s_tokens` and :mod:`.services_m_s_s3`.
"""

from __future__ import annotations

from typing import Any

from fluxnex.n8n.code_auth._context import Context
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, basic, copy, get, put, text, truthy
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import (
    Creds,
    bearer,
    body_fields,
    field,
    headers,
    query,
    with_bearer,
    with_headers,
)


def _authkey(c: Creds, o: Options, _: Context) -> Options:
    """Msg91: ``query.authkey = authkey`` (over the caller's)."""
    o = copy(o)
    put(query(o), "authkey", get(c, "authkey"))
    return o


def mandrill(c: Creds, o: Options, _: Context) -> Options:
    """``Object.assign({}, body, {key: apiKey})``, sent as the JSON body."""
    o = copy(o)
    put(body_fields(o, "mandrillApi"), "key", get(c, "apiKey"))
    return o


def marketstack(c: Creds, o: Options, _: Context) -> Options:
    """``qs: {access_key, ...qs}``: the caller's own ``access_key`` wins."""
    o = copy(o)
    qs = query(o)
    if "access_key" not in qs:
        put(qs, "access_key", get(c, "apiKey"))
    return o


def mocean(c: Creds, o: Options, _: Context) -> Options:
    """Key, secret and ``mocean-resp-format: JSON``: in the form body of a POST, in the query of a GET."""
    o = copy(o)
    method = text(o.get("method") or "GET").upper()
    if method == "POST":
        target = body_fields(o, "moceanApi", form=True)
    elif method == "GET":
        target = query(o)
    else:
        return o
    put(target, "mocean-api-key", get(c, "mocean-api-key"))
    put(target, "mocean-api-secret", get(c, "mocean-api-secret"))
    target["mocean-resp-format"] = "JSON"
    return o


def one_simple_api(c: Creds, o: Options, _: Context) -> Options:
    """``?token=…&output=json`` in the URL; the caller's query follows (a repeated name is sent twice)."""
    o = copy(o)
    qs: dict[str, Any] = {"token": text(get(c, "apiToken")), "output": "json"}
    for key, value in (o.get("qs") or {}).items():
        if key in qs:
            qs[key] = [qs[key], *(value if isinstance(value, list) else [value])]
        else:
            qs[key] = value
    o["qs"] = qs
    return o


def paddle(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    body = body_fields(o, "paddleApi")
    put(body, "vendor_id", get(c, "vendorId"))
    put(body, "vendor_auth_code", get(c, "vendorAuthCode"))
    return o


def quickbase(c: Creds, o: Options, _: Context) -> Options:
    """The realm hostname and the user token (n8n refuses to send without either)."""
    if not truthy(get(c, "hostname")):
        raise CodeAuthError("quickbaseApi: Hostname must be defined")
    if not truthy(get(c, "userToken")):
        raise CodeAuthError("quickbaseApi: User Token must be defined")
    o = copy(o)
    h = headers(o)
    h["QB-Realm-Hostname"] = get(c, "hostname")
    h["Authorization"] = f"QB-USER-TOKEN {text(get(c, 'userToken'))}"
    return o


def salesmate(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    h = headers(o)
    put(h, "sessionToken", get(c, "sessionToken"))
    put(h, "x-linkname", get(c, "url"))
    return o


def _monica_root(c: Creds) -> str:
    root = text(get(c, "domain")) if get(c, "environment") == "selfHosted" else "https://app.monicahq.com"
    return f"{root}/api"


_GF = "nodes/{}/GenericFunctions.js:{}"

NODES: dict[str, NodeAuth] = {
    "mandrillApi": NodeAuth(mandrill, lambda c: "https://mandrillapp.com/api/1.0",
                            _GF.format("Mandrill", "mandrillApiRequest")),
    "marketstackApi": NodeAuth(
        marketstack, lambda c: f"{'https' if truthy(get(c, 'useHttps')) else 'http'}://api.marketstack.com/v1",
        _GF.format("Marketstack", "marketstackApiRequest")),
    "matrixApi": NodeAuth(with_bearer("accessToken"), lambda c: f"{text(get(c, 'homeserverUrl'))}/_matrix/client/r0",
                          _GF.format("Matrix", "matrixApiRequest")),
    # the access-token variant (``authentication: accessToken``; the other one is OAuth2)
    "mediumApi": NodeAuth(with_headers(("Accept-Charset", lambda c: "utf-8"), ("Authorization", bearer("accessToken"))),
                          lambda c: "https://api.medium.com/v1", _GF.format("Medium", "mediumApiRequest")),
    "messageBirdApi": NodeAuth(with_headers(("Authorization", lambda c: f"AccessKey {text(get(c, 'accessKey'))}")),
                               lambda c: "https://rest.messagebird.com",
                               _GF.format("MessageBird", "messageBirdApiRequest")),
    "moceanApi": NodeAuth(mocean, lambda c: "https://rest.moceanapi.com", _GF.format("Mocean", "moceanApiRequest")),
    "monicaCrmApi": NodeAuth(with_bearer("apiToken"), _monica_root, _GF.format("MonicaCrm", "monicaCrmApiRequest")),
    "msg91Api": NodeAuth(_authkey, lambda c: "https://api.msg91.com/api", _GF.format("Msg91", "msg91ApiRequest")),
    "oneSimpleApi": NodeAuth(one_simple_api, lambda c: "https://onesimpleapi.com/api",
                             _GF.format("OneSimpleApi", "oneSimpleApiRequest")),
    "onfleetApi": NodeAuth(with_headers(("Authorization", lambda c: basic(get(c, "apiKey"), ""))),
                           lambda c: "https://onfleet.com/api/v2", _GF.format("Onfleet", "onfleetApiRequest")),
    "orbitApi": NodeAuth(with_bearer("accessToken"), lambda c: "https://app.orbit.love/api/v1",
                         _GF.format("Orbit", "orbitApiRequest")),
    "paddleApi": NodeAuth(
        paddle, lambda c: ("https://sandbox-vendors.paddle.com/api" if get(c, "sandbox") is True
                           else "https://vendors.paddle.com/api"), _GF.format("Paddle", "paddleApiRequest")),
    # the API-token variant (``authentication: apiToken``; the other one is OAuth2)
    "pagerDutyApi": NodeAuth(with_headers(("Authorization", lambda c: f"Token token={text(get(c, 'apiToken'))}")),
                             lambda c: "https://api.pagerduty.com",
                             _GF.format("PagerDuty", "pagerDutyApiRequest")),
    "plivoApi": NodeAuth(with_headers(("Authorization", lambda c: basic(get(c, "authId"), get(c, "authToken")))),
                         lambda c: f"https://api.plivo.com/v1/Account/{text(get(c, 'authId'))}",
                         _GF.format("Plivo", "plivoApiRequest")),
    "profitWellApi": NodeAuth(with_headers(("Authorization", field("accessToken"))),
                              lambda c: "https://api.profitwell.com/v2",
                              _GF.format("ProfitWell", "profitWellApiRequest")),
    "pushcutApi": NodeAuth(with_headers(("API-Key", field("apiKey"))), lambda c: "https://api.pushcut.io/v1",
                           _GF.format("Pushcut", "pushcutApiRequest")),
    "quickbaseApi": NodeAuth(quickbase, lambda c: "https://api.quickbase.com/v1",
                             _GF.format("QuickBase", "quickbaseApiRequest")),
    "salesmateApi": NodeAuth(salesmate, lambda c: "https://apis.salesmate.io",
                             _GF.format("Salesmate", "salesmateApiRequest")),
    "securityScorecardApi": NodeAuth(with_headers(("Authorization", lambda c: f"Token {text(get(c, 'apiKey'))}")),
                                     lambda c: "https://api.securityscorecard.io",
                                     _GF.format("SecurityScorecard", "scorecardApiRequest")),
}
