"""Cases for :mod:`fluxnex.n8n.code_auth.nodes.basic_keys`."""

from __future__ import annotations

from n8n_engine.node_cases import TypeCases, shapes

CASES = {
    "affinityApi": TypeCases(shapes("nodes/Affinity/GenericFunctions.js:affinityApiRequest"),
                             [{"apiKey": "k3y"}, {"apiKey": "é:x"}]),
    "dhlApi": TypeCases(shapes("nodes/Dhl/GenericFunctions.js:dhlApiRequest"), [{"apiKey": "k3y"}]),
    "freshserviceApi": TypeCases(shapes("nodes/Freshservice/GenericFunctions.js:freshserviceApiRequest"),
                                 [{"apiKey": "k3y", "domain": "acme"}]),
}
