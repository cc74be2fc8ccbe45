"""Differential test: every "node code" type, FluxNex's Python against the n8n node that authenticates it.

These credential types declare no authentication; their n8n node builds each request in its own code. The
node's request function (``GenericFunctions.js`` and the like, from n8n-nodes-base's ``dist/nodes``) runs in
``node_auth.cjs`` with a fake ``this`` whose helpers record the request options instead of sending them. FluxNex
is given the same call as a plain request to the type's ``base_url`` plus the path, authenticated by core's
built-in ``authenticate`` hook, the path a real session takes. Both sides are compared as sent on the wire:
method, URL with its query (pairs sorted), headers (names lower-cased; the request's shape headers
``Content-Type``, ``Content-Length``, ``Accept`` and ``User-Agent`` left out), basic auth as its header, and the
body as its JSON or form fields. Logins and token requests the node sends first are compared too.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import pkgutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
import requests
from code_engine_support import code_engine_dir
from fluxnex.contract.plugins import PluginInfo, TypeRegistry, _load_plugin, _new_plugin_manager
from fluxnex.lifecycle import builtin
from fluxnex.n8n import register_catalog
from fluxnex.n8n.code_auth import CodeAuthError, Context, TokenRequest, nodes
from fluxnex.n8n.code_auth.requests_adapter import authenticate_request
from fluxnex.n8n.expressions import to_js_string
from fluxnex.testing.n8n_catalog import catalog_path

from n8n_engine import node_cases
from n8n_engine.node_cases import NodeCall, TypeCases

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).with_name("node_auth.cjs")
NOW_MS = 1767225600000 + 123  # 2026-01-01T00:00:00.123Z
_SHAPE_HEADERS = frozenset({"content-type", "content-length", "accept", "user-agent"})


def all_cases() -> dict[str, TypeCases]:
    out: dict[str, TypeCases] = {}
    for info in pkgutil.iter_modules(node_cases.__path__):
        module = importlib.import_module(f"n8n_engine.node_cases.{info.name}")
        for name, cases in module.CASES.items():
            assert name not in out, f"{name}: cases defined twice"
            out[name] = cases
    return out


def _registry() -> TypeRegistry:
    registry = TypeRegistry(_new_plugin_manager())
    _load_plugin(registry, builtin, PluginInfo("builtin", "fluxnex-core", "0"))
    register_catalog(registry, json.loads(catalog_path().read_text()))
    return registry


def _engine(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    proc = subprocess.run(["node", str(HARNESS)], input=json.dumps({"now": NOW_MS, "cases": cases}),
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "N8N_CODE_ENGINE_DIR": str(code_engine_dir())})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout))


def _pairs(qs: Any) -> list[tuple[str, str]]:
    out = []
    for key, value in (qs or {}).items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                out.append((str(key), to_js_string(item)))
    return out


def _body(raw: Any, form: bool) -> Any:
    if raw is None or raw in ("", b"") or raw == {}:  # n8n-core sends no body for an empty object
        return None
    if isinstance(raw, dict | list):
        return raw
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    if form:
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        return text


def _wire(method: str, url: str, headers: dict[str, Any], body: Any) -> dict[str, Any]:
    parts = urlsplit(url)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return {"method": method.upper(), "url": urlunsplit(parts._replace(query="", fragment="")), "query": query,
            "headers": {k.lower(): str(v) for k, v in headers.items() if k.lower() not in _SHAPE_HEADERS},
            "body": body}


def node_wire(options: dict[str, Any]) -> dict[str, Any]:
    """A request the n8n node made (request-library or httpRequest options) as it goes on the wire."""
    url = str(options.get("uri") or options.get("url") or "")
    base = options.get("baseURL")
    if base and not urlsplit(url).scheme:
        url = str(base).rstrip("/") + "/" + url.lstrip("/")
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, "&".join(f"{k}={v}" for k, v in _pairs(options.get("qs")))]))
    headers = {str(k): v for k, v in (options.get("headers") or {}).items() if v is not None}
    auth = options.get("auth")
    if isinstance(auth, dict):
        if "bearer" in auth:
            headers["Authorization"] = f"Bearer {auth['bearer']}"
        else:
            user = auth.get("user", auth.get("username", ""))
            password = auth.get("pass", auth.get("password", ""))
            token = base64.b64encode(f"{to_js_string(user)}:{to_js_string(password)}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
    if options.get("form"):
        body = {k: to_js_string(v) for k, v in options["form"].items()}
    else:
        content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
        body = _body(options.get("body"), form=isinstance(options.get("body"), str)
                     and "application/x-www-form-urlencoded" in content_type.lower())
    if body == {}:
        body = None  # an empty form or JSON object: no content (FluxNex's request for the call has no body)
    rebuilt = urlunsplit(parts._replace(query=query))
    return _wire(str(options.get("method") or "GET"), rebuilt, headers, body)


def _token_wire(request: TokenRequest) -> dict[str, Any]:
    headers = dict(request.headers)
    if request.auth is not None:
        token = base64.b64encode(f"{request.auth[0]}:{request.auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    form = "json" not in content_type.lower()
    return _wire(request.method, request.url, headers, _body(request.body, form=form))


def ours(name: str, credentials: dict[str, Any], call: NodeCall) -> dict[str, Any]:
    """FluxNex's requests for the call: the token requests its context fetched, then the authenticated request."""
    answers = list(call.responses)
    seen: list[dict[str, Any]] = []

    def fetch(request: TokenRequest) -> Any:
        seen.append(_token_wire(request))
        return answers.pop(0) if answers else {}

    root = nodes.base_url(name, credentials)
    url = call.path if urlsplit(call.path).scheme or root is None else root + call.path
    body = call.body if call.body not in (None, {}) else None
    prepared = requests.Request(call.method, url, params=_pairs(call.qs), headers=call.headers,
                                data=body if call.form or isinstance(body, str) else None,
                                json=None if call.form or isinstance(body, str) else body).prepare()
    try:
        out = authenticate_request(name, credentials, prepared, Context(now=NOW_MS / 1000, fetch_token=fetch))
    except CodeAuthError as exc:
        return {"ok": False, "error": str(exc), "requests": seen}
    form = "application/x-www-form-urlencoded" in str(out.headers.get("Content-Type", ""))
    sent = _wire(out.method or "GET", out.url or "", dict(out.headers), _body(out.body, form=form))
    return {"ok": True, "requests": [*seen, sent]}


def theirs(result: dict[str, Any]) -> dict[str, Any]:
    return {"ok": result["ok"], "requests": [node_wire(r["options"]) for r in result["requests"]]}


def test_node_cases_cover_exactly_the_implemented_node_types() -> None:
    registry = _registry()
    cases = all_cases()
    assert set(cases) == nodes.implemented()
    for name, type_cases in cases.items():
        ct = registry.get(name)
        assert ct.authenticate is None, f"{name}: its credential declares authentication: not a node-code type"
        entry = nodes.get(name)
        assert entry is not None
        assert entry.source in {f"{c.module}:{c.function}" for c in type_cases.calls}, (
            f"{name}: no case calls the n8n function it restates ({entry.source})")


def test_every_node_code_type_matches_its_n8n_node() -> None:
    registry = _registry()
    jobs: list[tuple[str, dict[str, Any], NodeCall]] = []
    for name, type_cases in sorted(all_cases().items()):
        ct = registry.get(name)
        for raw in type_cases.credentials:
            credentials = ct.effective_data(raw)
            jobs.extend((name, credentials, c) for c in type_cases.calls)
    results = _engine([{"module": c.module, "function": c.function, "args": c.args, "credentials": creds,
                        "params": c.params, "responses": c.responses} for _, creds, c in jobs])
    assert len(results) == len(jobs)
    mismatches = []
    per_type: dict[str, list[int]] = {}
    for (name, credentials, c), result in zip(jobs, results, strict=True):
        assert result["ok"] or result["requests"], f"{name}: n8n's {c.function} failed: {result.get('error')}"
        mine, node = ours(name, credentials, c), theirs(result)
        counts = per_type.setdefault(name, [0, 0])
        counts[0] += 1
        if {k: v for k, v in mine.items() if k != "error"} != node:  # both refused: the same requests before
            counts[1] += 1
            mismatches.append({"type": name, "call": c.function, "args": c.args, "ours": mine, "n8n": node})
    for name, (total, bad) in sorted(per_type.items()):
        print(f"{name}: {total} cases, {bad} mismatches")
    print(f"node-code differential: {len(per_type)} types, {len(jobs)} cases, {len(mismatches)} mismatches")
    assert not mismatches, "\n\n".join(json.dumps(m, indent=1, default=str)[:3000] for m in mismatches[:5])
    docs = (Path(__file__).resolve().parents[2] / "docs" / "n8n.md").read_text(encoding="utf-8")
    assert f"{len(per_type)} node-code types, {len(jobs)} cases, 0 mismatches" in docs, (
        "docs/n8n.md states other node-code figures")
