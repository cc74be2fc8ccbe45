"""Nodes that send a fixed header or basic auth built from the credentials (n8n-nodes-base 2.41.2).

Each function restates the authentication part of one node's request function: where the node builds a new
``headers`` object, the function writes into the request's headers (the adapter keeps the caller's others).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth._context import Context
from fluxnex.n8n.code_auth._js import Options, basic, copy, get, put, text
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth

Creds = Mapping[str, Any]


def _headers(o: Options) -> dict[str, Any]:
    o["headers"] = dict(o.get("headers") or {})
    return o["headers"]  # type: ignore[no-any-return]


def affinity(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    _headers(o)["Authorization"] = basic("", get(c, "apiKey"))
    return o


def dhl(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    put(_headers(o), "DHL-API-Key", get(c, "apiKey"))
    return o


def freshservice(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    _headers(o)["Authorization"] = basic(get(c, "apiKey"), "X")
    return o


NODES: dict[str, NodeAuth] = {
    "affinityApi": NodeAuth(affinity, lambda c: "https://api.affinity.co",
                            "nodes/Affinity/GenericFunctions.js:affinityApiRequest"),
    "dhlApi": NodeAuth(dhl, lambda c: "https://api-eu.dhl.com", "nodes/Dhl/GenericFunctions.js:dhlApiRequest"),
    "freshserviceApi": NodeAuth(freshservice, lambda c: f"https://{text(get(c, 'domain'))}.freshservice.com/api/v2",
                                "nodes/Freshservice/GenericFunctions.js:freshserviceApiRequest"),
}
