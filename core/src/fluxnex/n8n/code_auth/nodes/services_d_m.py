"""Service nodes D to M that put a key in a header, the query or basic auth (n8n-nodes-base 2.41.2).

Each function restates the authentication part of one node's request function; the node's other choices (its
OAuth2 variant, the API root) are the caller's or :func:`fluxnex.n8n.code_auth.nodes.base_url`'s. Where the node
builds a new ``headers`` object, the function writes into the request's headers (the adapter keeps the caller's
others). The nodes that log in first (``fileMaker``, ``haloPSAApi``) are in ``services_d_m_login``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

from fluxnex.n8n.code_auth._context import Context
from fluxnex.n8n.code_auth._js import Options, basic, copy, get, put, spread, text, truthy
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import Creds, field, headers, with_bearer, with_headers, with_query


def disqus(c: Creds, o: Options, _: Context) -> Options:
    """``qs.api_key = accessToken``, written into the URL as `${key}=${value}` (the value as a template literal)."""
    o = copy(o)
    o["qs"] = {**spread(o.get("qs")), "api_key": text(get(c, "accessToken"))}
    return o


def facebook_app(c: Creds, o: Options, ctx: Context) -> Options:
    """The access token in the query and, with an app secret, ``appsecret_proof`` (HMAC-SHA256 of
    `${accessToken}|${time}`) and ``appsecret_time`` (epoch seconds)."""
    o = copy(o)
    qs = o["qs"] = spread(o.get("qs"))
    token = get(c, "accessToken")
    put(qs, "access_token", token)
    secret = get(c, "appSecret")
    if truthy(secret):
        now = int(ctx.now)
        message = f"{text(token)}|{now}".encode()
        qs["appsecret_proof"] = hmac.new(text(secret).encode(), message, hashlib.sha256).hexdigest()
        qs["appsecret_time"] = now
    return o


def gotify(c: Creds, o: Options, _: Context) -> Options:
    """``X-Gotify-Key``: the application token for a POST (sending a message), the client token otherwise."""
    o = copy(o)
    field = "appApiToken" if o.get("method") == "POST" else "clientApiToken"
    put(headers(o), "X-Gotify-Key", get(c, field))
    return o


def hunter(c: Creds, o: Options, _: Context) -> Options:
    """``Object.assign({api_key}, qs)``: the caller's own ``api_key`` wins."""
    o = copy(o)
    qs: dict[str, Any] = {}
    put(qs, "api_key", get(c, "apiKey"))
    o["qs"] = {**qs, **spread(o.get("qs"))}
    return o


def jenkins(c: Creds, o: Options, _: Context) -> Options:
    """``auth: {username, password: apiKey}`` (the request library's basic auth, UTF-8)."""
    o = copy(o)
    headers(o)["Authorization"] = basic(get(c, "username"), get(c, "apiKey"))
    return o


_TRAILING_API = re.compile(r"/api\Z")


def grist_root(c: Creds) -> str:
    """``gristBaseUrl``: ``url`` without a trailing ``/`` or ``/api``; else the legacy self-hosted URL or team
    subdomain; else the SaaS host. Request paths add ``/api``."""
    url = get(c, "url")
    if not truthy(url):
        url = get(c, "selfHostedUrl")
        if not truthy(url):
            team = get(c, "customSubdomain")
            return f"https://{text(team)}.getgrist.com" if truthy(team) else "https://api.getgrist.com"
    value = text(url)
    return _TRAILING_API.sub("", value[:-1] if value.endswith("/") else value, count=1)


def home_assistant_root(c: Creds) -> str:
    scheme = "https" if get(c, "ssl") is True else "http"
    return f"{scheme}://{text(get(c, 'host'))}:{text(get(c, 'port'))}/api"


def jenkins_root(c: Creds) -> str:
    value = text(get(c, "baseUrl"))
    return value[:-1] if value.endswith("/") else value


def jotform_root(c: Creds) -> str:
    domain = get(c, "apiDomain")
    return f"https://{text(domain) if truthy(domain) else 'api.jotform.com'}"


def _fixed(root: str) -> Callable[[Creds], str]:
    return lambda c: root


_G = "nodes/{}/GenericFunctions.js:{}"

NODES: dict[str, NodeAuth] = {
    "disqusApi": NodeAuth(disqus, _fixed("https://disqus.com/api/3.0"), _G.format("Disqus", "disqusApiRequest")),
    "driftApi": NodeAuth(with_bearer("accessToken"), _fixed("https://driftapi.com"),
                         _G.format("Drift", "driftApiRequest")),
    "egoiApi": NodeAuth(with_headers(("Apikey", field("apiKey", as_text=True))), _fixed("https://api.egoiapp.com"),
                        _G.format("Egoi", "egoiApiRequest")),
    "emeliaApi": NodeAuth(with_headers(("Authorization", field("apiKey"))), _fixed("https://graphql.emelia.io"),
                          _G.format("Emelia", "emeliaApiRequest")),
    "eventbriteApi": NodeAuth(with_bearer("apiKey"), _fixed("https://www.eventbriteapi.com/v3"),
                              _G.format("Eventbrite", "eventbriteApiRequest")),
    "facebookGraphAppApi": NodeAuth(facebook_app, _fixed("https://graph.facebook.com/v23.0"),
                                    _G.format("Facebook", "facebookApiRequest")),
    "figmaApi": NodeAuth(with_headers(("X-FIGMA-TOKEN", field("accessToken"))), _fixed("https://api.figma.com"),
                         _G.format("Figma", "figmaApiRequest")),
    "flowApi": NodeAuth(with_bearer("accessToken"), _fixed("https://api.getflow.com/v2"),
                        _G.format("Flow", "flowApiRequest")),
    "formstackApi": NodeAuth(with_bearer("accessToken"), _fixed("https://www.formstack.com/api/v2"),
                             _G.format("Formstack", "apiRequest")),
    "gotifyApi": NodeAuth(gotify, lambda c: text(get(c, "url")), _G.format("Gotify", "gotifyApiRequest"),
                          verify_tls=lambda c: not truthy(get(c, "ignoreSSLIssues"))),
    "gristApi": NodeAuth(with_bearer("apiKey"), lambda c: grist_root(c) + "/api",
                         _G.format("Grist", "gristApiRequest")),
    "harvestApi": NodeAuth(with_bearer("accessToken"), _fixed("https://api.harvestapp.com/v2"),
                           _G.format("Harvest", "harvestApiRequest")),
    "homeAssistantApi": NodeAuth(with_bearer("accessToken"), home_assistant_root,
                                 _G.format("HomeAssistant", "homeAssistantApiRequest")),
    "humanticAiApi": NodeAuth(with_query(("apikey", field("apiKey"))), _fixed("https://api.humantic.ai/v1"),
                              _G.format("HumanticAI", "humanticAiApiRequest")),
    "hunterApi": NodeAuth(hunter, _fixed("https://api.hunter.io/v2"), _G.format("Hunter", "hunterApiRequest")),
    "jenkinsApi": NodeAuth(jenkins, jenkins_root, _G.format("Jenkins", "jenkinsApiRequest")),
    "jotFormApi": NodeAuth(with_headers(("APIKEY", field("apiKey"))), jotform_root,
                           _G.format("JotForm", "jotformApiRequest")),
    "lingvaNexApi": NodeAuth(with_bearer("apiKey"), _fixed("https://api-b2b.backenster.com/b1/api/v3"),
                             _G.format("LingvaNex", "lingvaNexApiRequest")),
    "mailcheckApi": NodeAuth(with_bearer("apiKey"), _fixed("https://api.mailcheck.co/v1"),
                             _G.format("Mailcheck", "mailCheckApiRequest")),
}
