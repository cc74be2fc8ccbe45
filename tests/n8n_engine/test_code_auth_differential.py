"""Differential test: every code-authenticated n8n type, FluxNex's Python against n8n's own class.

n8n's classes are loaded from n8n-nodes-base's ``dist/credentials`` by ``authenticate.cjs`` with a frozen clock;
the token POSTs of the types that exchange a token first go to a recording client on both sides, which answers
with a token derived from the request, so both the token requests and the final requests are compared.
Credentials come from each type's properties (defaults, a sample per string, every choice of every options and
boolean field), and every set meets several request shapes (GET with a query, JSON and form POSTs, custom
headers, other hosts and paths, a raw body, no headers object).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from code_engine_support import code_engine_dir
from fluxnex.contract.plugins import TypeRegistry, _new_plugin_manager
from fluxnex.n8n import register_catalog
from fluxnex.n8n.authenticate import effective_data
from fluxnex.n8n.code_auth import CodeAuthError, Context, TokenRequest, authenticate_options, implemented
from fluxnex.testing.n8n_catalog import catalog_path

from n8n_engine.code_auth_cases import CODE_AUTHENTICATED, shapes_for, variants_for

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).with_name("authenticate.cjs")
NOW_MS = 1767225600000 + 123  # 2026-01-01T00:00:00.123Z: sub-second, as a real clock is


def _engine(payload: dict[str, Any]) -> Any:
    proc = subprocess.run(["node", str(HARNESS)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=300, env={**os.environ, "N8N_CODE_ENGINE_DIR": str(code_engine_dir())})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _sts(request: TokenRequest) -> dict[str, Any]:
    """What the node harness records of an AssumeRole call (``stsRecord``), read from our signed STS request."""
    credential = request.headers["authorization"].split("Credential=")[1].split(",")[0].split("/")
    return {"sts": {"form": dict(parse_qsl(request.body)), "region": credential[2], "accessKeyId": credential[0],
                    "sessionToken": request.headers.get("x-amz-security-token")}}


def _fake_fetcher(seen: list[dict[str, Any]]) -> Any:
    def fetch(request: TokenRequest) -> dict[str, Any]:
        if request.answer == "aws_sts":
            record = _sts(request)
            seen.append(record)
            d = hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
                               ).hexdigest()[:16]
            return {"AccessKeyId": f"ASIA{d}", "SecretAccessKey": f"secret-{d}", "SessionToken": f"session-{d}",
                    "expires_in": 3600}
        seen.append({"url": request.url, "method": "POST", "headers": dict(request.headers), "body": request.body,
                     "auth": None if request.auth is None else
                     {"username": request.auth[0], "password": request.auth[1]}})
        digest = hashlib.sha256(f"{request.url}\n{request.body}".encode()).hexdigest()[:16]
        return {"access_token": f"tok-{digest}", "token_type": "Bearer", "expires_in": 3600}

    return fetch


def _ours(case: dict[str, Any]) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []
    ctx = Context(now=NOW_MS / 1000, fetch_token=_fake_fetcher(seen))
    try:
        value = authenticate_options(case["type"], case["credentials"], json.loads(json.dumps(case["options"])), ctx)
    except CodeAuthError as exc:
        return {"ok": False, "error": str(exc), "tokenRequests": seen}
    return {"ok": True, "value": json.loads(json.dumps(value)), "tokenRequests": seen}


def _registry() -> TypeRegistry:
    registry = TypeRegistry(_new_plugin_manager())
    register_catalog(registry, json.loads(catalog_path().read_text()))
    return registry


def test_the_code_authenticated_types_are_the_ones_n8n_has() -> None:
    """n8n's classes with an ``authenticate`` method, less the pre-authenticated: the list the test covers."""
    assert _engine({"now": NOW_MS, "list": True}) == sorted(CODE_AUTHENTICATED)
    assert implemented() == set(CODE_AUTHENTICATED)


def test_every_code_authenticated_type_matches_n8n() -> None:
    registry = _registry()
    cases: list[dict[str, Any]] = []
    for name in CODE_AUTHENTICATED:
        ct = registry.get(name)
        props = [p.to_n8n() for p in ct.properties]
        for raw in variants_for(name, props):
            credentials = effective_data(ct, raw, oauth=False)
            for options in shapes_for(name):
                cases.append({"type": name, "credentials": credentials, "options": options})
    theirs = _engine({"now": NOW_MS, "cases": cases})
    assert len(theirs) == len(cases)
    mismatches = []
    per_type: dict[str, list[int]] = {}
    for case, their in zip(cases, theirs, strict=True):
        ours = _ours(case)
        same = ours["ok"] == their["ok"] and ours["tokenRequests"] == their["tokenRequests"] and (
            not ours["ok"] or ours["value"] == their["value"])
        counts = per_type.setdefault(case["type"], [0, 0, 0])
        counts[0] += 1
        counts[1] += 0 if their["ok"] else 1
        if not same:
            counts[2] += 1
            mismatches.append((case, ours, their))
    for name, (total, errors, bad) in sorted(per_type.items()):
        print(f"{name}: {total} cases ({errors} rejected by n8n), {bad} mismatches")
    print(f"code-authenticated differential: {len(per_type)} types, {len(cases)} cases, {len(mismatches)} mismatches")
    assert not mismatches, "\n\n".join(json.dumps(m, indent=1, default=str)[:3000] for m in mismatches[:5])
    # every type has cases n8n accepts: the comparison is not of errors only
    assert all(total > errors for total, errors, _ in per_type.values()), per_type
    docs = (Path(__file__).resolve().parents[2] / "docs" / "n8n.md").read_text(encoding="utf-8")
    assert f"{len(cases)} cases, 0 mismatches" in docs, "docs/n8n.md states another case count"
