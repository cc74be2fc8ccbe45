"""Nodes S to Z that add a header, a query parameter, basic auth or form fields built from the credentials
(n8n-nodes-base 2.41.2); the ones that log in first, sign or put the secret in the path are in
:mod:`fluxnex.n8n.code_auth.nodes.services_s_z_login`.

Each function restates the authentication part of one node's request function. Where a node chooses the
credential by a node parameter (Storyblok's ``source``, SurveyMonkey's and Zammad's ``authentication``), each
type is the branch that reads it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fluxnex.n8n.code_auth._context import Context
from fluxnex.n8n.code_auth._js import Options, basic, copy, get, put, spread, text
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import FORM, Creds, field, headers, prefixed, with_headers, with_query
from fluxnex.n8n.expressions import UNDEFINED


def form_fields(o: Options, first: Mapping[str, Any], last: Mapping[str, Any]) -> Options:
    """The request body sent as a form, ``{...first, ...body, ...last}`` (fields the node assigns unset are left
    out, as JavaScript's ``undefined`` is)."""
    o = copy(o)
    body = o.get("body")
    fields = {k: v for k, v in first.items() if v is not UNDEFINED}
    fields.update(body if isinstance(body, Mapping) else {})
    for key, value in last.items():
        put(fields, key, value)
    o["form"] = fields
    headers(o)["Content-Type"] = FORM
    return o


def sendy(c: Creds, o: Options, _: Context) -> Options:
    """``body.api_key = apiKey; body.boolean = true``, sent as a form."""
    return form_fields(o, {}, {"api_key": get(c, "apiKey"), "boolean": True})


def vonage(c: Creds, o: Options, _: Context) -> Options:
    """``body.api_key``, ``body.api_secret``, sent as a form."""
    return form_fields(o, {}, {"api_key": get(c, "apiKey"), "api_secret": get(c, "apiSecret")})


def vero(c: Creds, o: Options, _: Context) -> Options:
    """``form: {auth_token, ...body}``."""
    return form_fields(o, {"auth_token": get(c, "authToken")}, {})


def zulip(c: Creds, o: Options, _: Context) -> Options:
    """Basic auth (email, API key); a body goes as a form. The header is written here, UTF-8 as Node's HTTP
    client encodes ``auth`` (requests' basic auth would encode Latin-1)."""
    body = o.get("body")
    o = form_fields(o, {}, {}) if isinstance(body, Mapping) and body else copy(o)
    headers(o)["Authorization"] = basic(get(c, "email"), get(c, "apiKey"))
    return o


def zammad_basic(c: Creds, o: Options, _: Context) -> Options:
    """``auth: {user, pass}`` (UTF-8, as for Zulip)."""
    o = copy(o)
    headers(o)["Authorization"] = basic(get(c, "username"), get(c, "password"))
    return o


def qs_stringify(qs: Mapping[str, Any]) -> str:
    """npm ``qs.stringify(query)`` with its defaults (RFC 3986 escaping, arrays as ``key[i]``, nested as
    ``key[sub]``), for a query of strings, lists and objects."""
    def enc(value: str) -> str:
        return quote(value, safe="-_.~")

    pairs: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if value is UNDEFINED:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            pairs.append(f"{enc(prefix)}={enc('' if value is None else text(value))}")

    for key, value in qs.items():
        walk(str(key), value)
    return "&".join(pairs)


def unleashed(c: Creds, o: Options, _: Context) -> Options:
    """``api-auth-id`` and ``api-auth-signature``: HMAC-SHA256 (key: the API key) of ``qs.stringify(query)``,
    base64. The node builds a new headers object (its ``Accept``/``Content-Type`` are dropped)."""
    o = copy(o)
    digest = hmac.new(text(get(c, "apiKey")).encode("utf-8"), qs_stringify(spread(o.get("qs"))).encode("utf-8"),
                      hashlib.sha256).digest()
    h = headers(o)
    put(h, "api-auth-id", get(c, "apiId"))
    h["api-auth-signature"] = base64.b64encode(digest).decode("ascii")
    return o


def trim_slash(url: Any) -> str:
    """n8n's ``removeTrailingSlash`` (one slash)."""
    value = text(url)
    return value[:-1] if value.endswith("/") else value


_G = "nodes/{}/GenericFunctions.js:{}"

NODES: dict[str, NodeAuth] = {
    "sendyApi": NodeAuth(sendy, lambda c: text(get(c, "url")), _G.format("Sendy", "sendyApiRequest")),
    "stackbyApi": NodeAuth(with_headers(("api-key", field("apiKey"))), lambda c: "https://stackby.com/api/betav1",
                           "nodes/Stackby/GenericFunction.js:apiRequest"),
    "storyblokContentApi": NodeAuth(with_query(("token", field("apiKey"))), lambda c: "https://api.storyblok.com",
                                    _G.format("Storyblok", "storyblokApiRequest")),
    "storyblokManagementApi": NodeAuth(with_headers(("Authorization", field("accessToken"))),
                                       lambda c: "https://mapi.storyblok.com",
                                       _G.format("Storyblok", "storyblokApiRequest")),
    "surveyMonkeyApi": NodeAuth(with_headers(("Authorization", prefixed("bearer ", "accessToken"))),
                                lambda c: "https://api.surveymonkey.com/v3",
                                _G.format("SurveyMonkey", "surveyMonkeyApiRequest")),
    "syncroMspApi": NodeAuth(with_query(("api_key", field("apiKey"))),
                             lambda c: f"https://{text(get(c, 'subdomain'))}.syncromsp.com/api/v1/",
                             "nodes/SyncroMSP/v1/transport/index.js:apiRequest"),
    "tapfiliateApi": NodeAuth(with_headers(("Api-Key", field("apiKey"))), lambda c: "https://api.tapfiliate.com/1.6",
                              _G.format("Tapfiliate", "tapfiliateApiRequest")),
    "travisCiApi": NodeAuth(with_headers(("Travis-API-Version", lambda c: "3"),
                                         ("Authorization", prefixed("token ", "apiToken"))),
                            lambda c: "https://api.travis-ci.com",
                            _G.format("TravisCi", "travisciApiRequest")),
    "unleashedSoftwareApi": NodeAuth(unleashed, lambda c: "https://api.unleashedsoftware.com/",
                                     _G.format("UnleashedSoftware", "unleashedApiRequest")),
    "upleadApi": NodeAuth(with_headers(("Authorization", field("apiKey"))), lambda c: "https://api.uplead.com/v2",
                          _G.format("Uplead", "upleadApiRequest")),
    "veroApi": NodeAuth(vero, lambda c: "https://api.getvero.com/api/v2", _G.format("Vero", "veroApiRequest")),
    "vonageApi": NodeAuth(vonage, lambda c: "https://rest.nexmo.com", _G.format("Vonage", "vonageApiRequest")),
    "yourlsApi": NodeAuth(with_query(("signature", field("signature")), fixed={"format": "json"}),
                          lambda c: text(get(c, "url")), _G.format("Yourls", "yourlsApiRequest")),
    "zammadBasicAuthApi": NodeAuth(zammad_basic, lambda c: f"{trim_slash(get(c, 'baseUrl'))}/api/v1",
                                   _G.format("Zammad", "zammadApiRequest")),
    "zammadTokenAuthApi": NodeAuth(with_headers(("Authorization", prefixed("Token token=", "accessToken"))),
                                   lambda c: f"{trim_slash(get(c, 'baseUrl'))}/api/v1",
                                   _G.format("Zammad", "zammadApiRequest")),
    "zulipApi": NodeAuth(zulip, lambda c: f"{text(get(c, 'url')).removesuffix('/')}/api/v1",
                         _G.format("Zulip", "zulipApiRequest")),
}
