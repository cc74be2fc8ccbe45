"""Cases for :mod:`fluxnex.n8n.code_auth.nodes.services_d_m` (and its ``services_d_m_login``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from n8n_engine.node_cases import NodeCall, TypeCases, call, shapes

_G = "nodes/{}/GenericFunctions.js:{}"
_ODD = "é ü:/&x"  # non-ASCII, a colon (basic auth), a slash and an ampersand (query encoding)


def _with(calls: list[NodeCall], **params: Any) -> list[NodeCall]:
    """The calls with the node parameters that choose the credential (its ``authentication`` option, say)."""
    return [replace(c, params={**c.params, **params}) for c in calls]


def _flat(source: str) -> list[NodeCall]:
    """``shapes`` with a flat body (the nodes that send their body as a form)."""
    return [call(source, "GET", "/items", qs={"limit": 10, "q": "a b"}),
            call(source, "POST", "/items", {"name": "n é", "x": "1"}),
            call(source, "PUT", "/items/1", {"name": "m"}, {"k": "v"})]


def _disqus() -> list[NodeCall]:
    src = _G.format("Disqus", "disqusApiRequest")
    module, _, function = src.partition(":")
    return [NodeCall(module, function, ["GET", {"forum": "f", "limit": 5}, "forums/details.json"], "GET",
                     "/forums/details.json", {"forum": "f", "limit": 5}),
            NodeCall(module, function, ["GET", {"thread": ["1", "2"]}, "threads/list.json"], "GET",
                     "/threads/list.json", {"thread": ["1", "2"]}),
            NodeCall(module, function, ["POST", {}, "posts/create.json", {"message": "hi"}], "POST",
                     "/posts/create.json", body={"message": "hi"})]


def _no_query(source: str) -> list[NodeCall]:
    """Figma's function ignores its ``qs`` argument: the caller's query would be in its URL."""
    return [call(source, "GET", "/v1/files/k"), call(source, "POST", "/v1/files/k/comments", {"message": "m"}),
            call(source, "DELETE", "/v1/files/k/comments/1")]


def _formstack() -> list[NodeCall]:
    src = _G.format("Formstack", "apiRequest")
    module, _, function = src.partition(":")
    return [NodeCall(module, function, ["GET", "form.json", {}, {"page": 1}], "GET", "/form.json", {"page": 1}),
            NodeCall(module, function, ["POST", "form/1/submission.json", {"field_1": "v"}], "POST",
                     "/form/1/submission.json", body={"field_1": "v"})]


def _harvest() -> list[NodeCall]:
    src = _G.format("Harvest", "harvestApiRequest")
    module, _, function = src.partition(":")
    account = {"Harvest-Account-Id": "4711"}  # a node parameter (accountId), the caller's header here
    return [NodeCall(module, function, ["GET", {"page": 2}, "time_entries"], "GET", "/time_entries", {"page": 2},
                     headers=account),
            NodeCall(module, function, ["POST", {}, "clients", {"name": "c"}], "POST", "/clients", body={"name": "c"},
                     headers=account),
            NodeCall(module, function, ["DELETE", {}, "clients/1"], "DELETE", "/clients/1", headers=account)]


def _jenkins() -> list[NodeCall]:
    src = _G.format("Jenkins", "jenkinsApiRequest")
    module, _, function = src.partition(":")
    return [NodeCall(module, function, ["GET", "/api/json", {"tree": "jobs[name]"}], "GET", "/api/json",
                     {"tree": "jobs[name]"}),
            NodeCall(module, function, ["POST", "/job/a/build", {}, {"x": 1}], "POST", "/job/a/build", body={"x": 1})]


def _filemaker() -> list[NodeCall]:
    login = {"response": {"token": "fm-session-1"}}
    module = "nodes/FileMaker/GenericFunctions.js"
    return [NodeCall(module, "layoutsApiRequest", [], "GET", "/layouts",
                     responses=[login, {"response": {"layouts": []}}]),
            NodeCall(module, "getScripts", [], "GET", "/scripts", responses=[login, {"response": {"scripts": []}}])]


def _halo() -> list[NodeCall]:
    token = {"access_token": "halo-1", "token_type": "Bearer", "expires_in": 3600}
    module, methods = "nodes/HaloPSA/HaloPSA.node.js", "HaloPSA#methods.loadOptions."
    return [NodeCall(module, methods + "getHaloPSATicketsTypes", [], "GET", "/TicketType", responses=[token, []]),
            NodeCall(module, methods + "getHaloPSAAgents", [], "GET", "/agent", responses=[token, []]),
            NodeCall(module, methods + "getHaloPSASites", [], "GET", "/site",
                     {"page_size": 100, "page_no": 1, "pageinate": True},
                     responses=[token, {"sites": [], "record_count": 0}])]


def _empty_body(calls: list[NodeCall]) -> list[NodeCall]:
    """The nodes that keep an empty body send ``{}`` as JSON (a GET too): the caller sends the same."""
    return [replace(c, body={} if c.body is None else c.body) for c in calls]


_LINGVA = [replace(c, body=c.body or {}, responses=[{"err": None}])
           for c in shapes(_G.format("LingvaNex", "lingvaNexApiRequest"))]
_KEYS = [{"apiKey": "k3y"}, {"apiKey": _ODD}, {"apiKey": ""}]
_TOKENS = [{"accessToken": "t0k"}, {"accessToken": _ODD}]

CASES = {
    "disqusApi": TypeCases(_disqus(), [{"accessToken": "t0k"}, {"accessToken": "é ü"}]),
    "driftApi": TypeCases(_with(_empty_body(shapes(_G.format("Drift", "driftApiRequest"))),
                                       authentication="accessToken"), _TOKENS),
    "egoiApi": TypeCases(shapes(_G.format("Egoi", "egoiApiRequest")), _KEYS),
    "emeliaApi": TypeCases(_empty_body(shapes(_G.format("Emelia", "emeliaApiRequest"))), _KEYS),
    "eventbriteApi": TypeCases(_with(shapes(_G.format("Eventbrite", "eventbriteApiRequest")),
                                     authentication="privateKey"), _KEYS),
    "facebookGraphAppApi": TypeCases(
        _with(_empty_body(shapes(_G.format("Facebook", "facebookApiRequest"))), authType="accessToken"),
        [{"accessToken": "t0k"}, {"accessToken": "t0k", "appSecret": "s3cret"},
         {"accessToken": _ODD, "appSecret": "é"}]),
    "figmaApi": TypeCases(_with(_no_query(_G.format("Figma", "figmaApiRequest")), authentication="accessToken"),
                          _TOKENS),
    "fileMaker": TypeCases(_filemaker(), [{"host": "fm.example.com", "db": "Sales", "login": "admin", "password": "pw"},
                                          {"host": "fm.example.com:8443", "db": "Sales_2", "login": "é",
                                           "password": "p:w"}]),
    "flowApi": TypeCases(shapes(_G.format("Flow", "flowApiRequest")), [{"organizationId": 7, "accessToken": "t0k"}]),
    "formstackApi": TypeCases(_with(_formstack(), authentication="accessToken"), _TOKENS),
    "gotifyApi": TypeCases(shapes(_G.format("Gotify", "gotifyApiRequest")),
                           [{"appApiToken": "app", "clientApiToken": "client", "url": "https://push.example.com"},
                            {"appApiToken": "app", "clientApiToken": "", "url": "https://push.example.com/",
                             "ignoreSSLIssues": True}]),
    "gristApi": TypeCases(_with(shapes(_G.format("Grist", "gristApiRequest")), authentication="apiKey"),
                          [{"apiKey": "k3y"}, {"apiKey": "k", "url": "https://grist.example.com/"},
                           {"apiKey": "k", "url": "https://grist.example.com/api"},
                           {"apiKey": "k", "url": "https://grist.example.com/api/"},
                           {"apiKey": "k", "customSubdomain": "team"},
                           {"apiKey": "k", "selfHostedUrl": "https://self.example.com/api"}]),
    "haloPSAApi": TypeCases(_halo(), [
        {"hostingType": "hostedHalo", "authUrl": "https://acme.halopsa.com/auth", "tenant": "acme",
         "resourceApiUrl": "https://acme.halopsa.com/api", "client_id": "cid", "client_secret": "sec"},
        {"hostingType": "onPremise", "authUrl": "https://halo.example.com/auth",
         "resourceApiUrl": "https://halo.example.com/api", "client_id": "é", "client_secret": "s&c", "scope": "all"}]),
    "harvestApi": TypeCases(_with(_harvest(), authentication="accessToken", accountId="4711"), _TOKENS),
    "homeAssistantApi": TypeCases(shapes(_G.format("HomeAssistant", "homeAssistantApiRequest")),
                                  [{"host": "ha.local", "accessToken": "t0k"},
                                   {"host": "ha.example.com", "port": 443, "ssl": True, "accessToken": _ODD}]),
    "humanticAiApi": TypeCases(shapes(_G.format("HumanticAI", "humanticAiApiRequest")), _KEYS),
    "hunterApi": TypeCases([*shapes(_G.format("Hunter", "hunterApiRequest")),
                            call(_G.format("Hunter", "hunterApiRequest"), "GET", "/domain-search",
                                 qs={"api_key": "callers", "domain": "x.com"})], _KEYS),
    "jenkinsApi": TypeCases(_jenkins(), [{"username": "u", "apiKey": "k", "baseUrl": "https://ci.example.com/"},
                                         {"username": "é", "apiKey": "p:w", "baseUrl": "https://ci.example.com/j"}]),
    "jotFormApi": TypeCases(_flat(_G.format("JotForm", "jotformApiRequest")),
                            [{"apiKey": "k3y"}, {"apiKey": "k", "apiDomain": "eu-api.jotform.com"},
                             {"apiKey": "k", "apiDomain": ""}]),
    "lingvaNexApi": TypeCases(_LINGVA, _KEYS),
    "mailcheckApi": TypeCases(shapes(_G.format("Mailcheck", "mailCheckApiRequest")), _KEYS),
}
