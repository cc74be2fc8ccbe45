"""Nodes that send a fixed header or basic auth built from the credentials (n8n-nodes-base 2.41.2).

Each entry restates the authentication part of one node's request function: where the node builds a new
``headers`` object, the entry writes into the request's headers (the adapter keeps the caller's others).
"""

from __future__ import annotations

from fluxnex.n8n.code_auth._js import basic, get, text
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import field, with_headers

NODES: dict[str, NodeAuth] = {
    "affinityApi": NodeAuth(with_headers(("Authorization", lambda c: basic("", get(c, "apiKey")))),
                            lambda c: "https://api.affinity.co",
                            "nodes/Affinity/GenericFunctions.js:affinityApiRequest"),
    "dhlApi": NodeAuth(with_headers(("DHL-API-Key", field("apiKey"))), lambda c: "https://api-eu.dhl.com",
                       "nodes/Dhl/GenericFunctions.js:dhlApiRequest"),
    "freshserviceApi": NodeAuth(with_headers(("Authorization", lambda c: basic(get(c, "apiKey"), "X"))),
                                lambda c: f"https://{text(get(c, 'domain'))}.freshservice.com/api/v2",
                                "nodes/Freshservice/GenericFunctions.js:freshserviceApiRequest"),
}
