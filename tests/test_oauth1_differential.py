"""Differential test: OAuth1 signatures of ``fluxnex.lifecycle.oauth1`` (oauthlib) against n8n-core's own signer
(oauth-1.0a as ``requestOAuth1`` configures it, ``tests/n8n_engine/oauth1.cjs``), with the same nonce and
timestamp, over n8n's three signature methods and requests with queries, form bodies, JSON bodies and
characters that need percent-encoding: every ``Authorization`` parameter equal. (URLs are given in the form
requests sends them: requests turns an escaped unreserved character such as ``%7E`` into ``~`` on the wire and
signs what it sends, where axios sends and signs ``%7E``; each signature matches its own request.)"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from fluxnex.lifecycle import oauth1
from preauth_engine import node_path

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).parent / "n8n_engine" / "oauth1.cjs"
CONSUMER = {"consumerKey": "ck-1", "consumerSecret": "cs &=+/é"}
TOKEN = {"oauth_token": "at-1", "oauth_token_secret": "ts~!*'()"}
REQUESTS: list[dict[str, Any]] = [
    {"method": "GET", "url": "https://api.example.com/1.1/users/show.json", "qs": {"screen_name": "n8n io"},
     "form": {}},
    {"method": "GET", "url": "https://api.trello.com/1/members/me", "qs": {}, "form": {}},
    {"method": "POST", "url": "https://api.example.com/statuses/update.json",
     "qs": {"include_entities": "true"}, "form": {"status": "Hello Ladies + Gentlemen, a signed OAuth request!"}},
    {"method": "POST", "url": "https://api.example.com/cards", "qs": {"idList": "a/b?c"}, "form": {},
     "json": {"name": "not signed"}},
    {"method": "DELETE", "url": "https://api.example.com:8443/x/~y(z)", "qs": {"a": "1", "b": "ü ☃"}, "form": {}},
]


def _params(header: str) -> dict[str, str]:
    assert header.startswith("OAuth ")
    pairs = (p.strip().split("=", 1) for p in header[len("OAuth "):].split(","))
    return {unquote(k): unquote(v.strip('"')) for k, v in pairs}


def _ours(case: dict[str, Any]) -> str:
    prepared = requests.Request(case["method"], case["url"], params=case["qs"] or None,
                                data=case["form"] or None, json=case.get("json")).prepare()
    client = oauth1.signer({**CONSUMER, "signatureMethod": case["signatureMethod"]}, token=TOKEN)
    client.nonce, client.timestamp = case["nonce"], str(case["timestamp"])
    return str(oauth1.sign(client, prepared).headers["Authorization"])


def test_signatures_match_n8n_core() -> None:
    cases = [{**CONSUMER, **r, "token": TOKEN, "signatureMethod": m, "nonce": f"nonce{i}", "timestamp": 1767225600 + i}
             for i, (m, r) in enumerate((m, r) for m in ("HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512") for r in REQUESTS)]
    env = {**os.environ, "NODE_PATH": node_path()}
    out = subprocess.run(["node", str(HARNESS)], input=json.dumps(cases), capture_output=True, text=True, env=env,
                         timeout=60, check=True)
    theirs = json.loads(out.stdout)
    mismatches = [(c["signatureMethod"], c["method"], c["url"], _params(t), _params(_ours(c)))
                  for c, t in zip(cases, theirs, strict=True) if _params(t) != _params(_ours(c))]
    assert not mismatches, json.dumps(mismatches, indent=1)
    assert len(cases) == 15
