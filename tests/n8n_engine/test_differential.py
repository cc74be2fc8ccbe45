"""Differential test: fluxnex.expressions against n8n-workflow's own engine, for every catalog expression."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_dir
from fluxnex.n8n.expressions import UNDEFINED, evaluate, find_expressions
from fluxnex.testing.n8n_catalog import catalog_path

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).with_name("evaluate.cjs")
_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                   r"\d{4} \d\d:\d\d:\d\d GMT$")


def _variants(props: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deterministic credential data: defaults, URL-like strings, padded strings, empty strings."""
    out: list[dict[str, Any]] = []
    for v in range(4):
        data: dict[str, Any] = {}
        for p in props:
            name, kind, default = p["name"], p.get("type"), p.get("default")
            options = [o.get("value") for o in p.get("options") or [] if isinstance(o, dict)]
            if kind == "boolean":
                data[name] = [default if isinstance(default, bool) else False, True, False, True][v]
            elif kind == "options" and options:
                data[name] = [default, options[0], options[-1], options[len(options) // 2]][v]
            elif kind == "number":
                data[name] = [default, 1, 1.5, 0][v]
            elif kind in ("string", "hidden", "json"):
                if v == 0:
                    data[name] = default
                else:
                    data[name] = [None, f"https://{name.lower()}.example.com/api/",
                                  f"  cn-{name}-x-y/remote.php/webdav  ", ""][v]
        out.append(data)
    return out


def _cases() -> list[dict[str, Any]]:
    catalog = json.loads(catalog_path().read_text())
    cases: list[dict[str, Any]] = []
    for ctype in catalog:
        expressions = sorted(set(find_expressions({k: v for k, v in ctype.items() if k != "properties"}))
                             | set(find_expressions(ctype.get("properties", []))))
        if not expressions:
            continue
        for data in _variants(ctype.get("properties", [])):
            for expr in expressions:
                cases.append({"type": ctype["name"], "expression": expr, "credentials": data, "self": data})
    return cases


_EXTRA_DATA = {"n": 5, "f": 1.5, "z": 0, "s": "a-b-c", "e": "", "t": True, "nul": None, "arr": [1, None, "x"],
               "obj": {"k": "v"}, "url": "https://x.io//", "num": "12"}
EXTRA_EXPRESSIONS = [
    "={{$credentials.n + 1}}", "={{$credentials.n + '1'}}", "={{$credentials.f * 2}}", "={{ 7 % 3 }}",
    "={{ 1 / 3 }}", "=x{{ 1 / 3 }}", "={{ -$credentials.z }}", "=v{{ 0.000001 }}{{ 1e-7 }}",
    "={{ 1e21 + 1 }}", "={{ 123456789012345680000 }}", "={{$credentials.num == 12}}",
    "={{ null == undefined }}", "={{ null === undefined }}", "={{ '' == 0 }}", "={{ [1] == 1 }}",
    "={{ '10' < '9' }}", "={{ 10 < '9' }}", "={{ $credentials.nul }}",
    "=a{{ $credentials.nul }}b{{ $credentials.missing }}c{{ $credentials.t }}", "={{ $credentials.arr }}",
    "=a{{ $credentials.arr }}", "=a{{ $credentials.obj }}", "={{ $credentials.obj.k }}",
    "={{ $credentials.missing.deep }}", "=a{{ $credentials.missing.deep }}b",
    "={{ $credentials.missing?.deep }}", "={{ $credentials.missing ?? 'd' }}",
    "={{ $credentials.z ?? 'd' }}", "={{ $credentials.z || 'd' }}", "={{ $credentials.e && 'y' }}",
    "={{ !$credentials.e }}", "={{ typeof $credentials.n }}", "={{ $credentials.s.split('-') }}",
    "={{ $credentials.s.split('-', 2).join('+') }}", "={{ $credentials.s.split(/-/) }}",
    "={{ $credentials.s.split('') }}", "={{ $credentials.s.replace('-', '_') }}",
    "={{ $credentials.s.replace(/-/g, '_') }}", "={{ $credentials.s.replace(/(\\w)-/g, '$1$1') }}",
    "={{ $credentials.s.replaceAll('-', '') }}", "={{ $credentials.url.replace(/\\/+$/, '') }}",
    "={{ $credentials.s.slice(-3) }}", "={{ $credentials.s.slice(1, -1) }}",
    "={{ $credentials.s.substring(3, 1) }}", "={{ $credentials.s.indexOf('b') }}",
    "={{ $credentials.s.includes('c') }}", "={{ $credentials.s.toUpperCase() }}",
    "={{ $credentials.s.padStart(8, '*') }}", "={{ $credentials.s.length }}", "={{ $credentials.s[2] }}",
    "={{ `t-${$credentials.n}-${$credentials.nul}` }}", "={{ [1, 2, 3].includes(2) }}", "={{ ({a: 1}).a }}",
    "={{ String(1.50) + String(true) }}", "={{ Number('0x10') }}", "={{ Number(' 12 ') }}",
    "={{ Number('1e3') }}", "={{ encodeURIComponent('a b&c/é') }}", "={{ parseInt('42px') }}",
    "={{ btoa('user:pw') }}", "={{ $credentials.n.toString() }}", "={{ $credentials.arr.length }}",
    "={{ $credentials.arr.indexOf('x') }}", "={{ 'a' + {} }}", "={{ 'a' + [1, [2, 3]] }}",
    "={{ 1 + null }}", "={{ 1 + undefined }}", "={{ true + 1 }}", "={{ 0.1 * 3 }}", "={{ 100 / 3 }}",
    "={{ -1 / 0 }}", "={{ 5e-324 }}", "={{ 9007199254740992 + 2 }}", "={{ btoa('u') }}",
    "={{ $credentials.missing() }}", "=a{{ $credentials.s.nope() }}b", "={{ 1 + }}",
    "={{ $credentials.constructor }}",
]


def _extra_cases() -> list[dict[str, Any]]:
    return [{"type": "-", "expression": e, "credentials": _EXTRA_DATA, "self": _EXTRA_DATA}
            for e in EXTRA_EXPRESSIONS]


def _ours(case: dict[str, Any]) -> dict[str, Any]:
    try:
        value = evaluate(case["expression"], credentials=case["credentials"], self=case["self"])
    except Exception as exc:  # the comparison wants n8n's error shape
        return {"ok": False, "error": str(exc)}
    if value is UNDEFINED:
        return {"ok": True, "type": "undefined"}
    if value is None:
        return {"ok": True, "type": "null", "value": None}
    kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value), "object")
    if isinstance(value, float) and not math.isfinite(value):
        value = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return {"ok": True, "type": kind, "value": value}


def _same(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    if ours["ok"] != theirs["ok"]:
        return False
    if not ours["ok"]:
        return True
    if ours["type"] == "string" and theirs.get("type") == "string" and _DATE.match(theirs["value"]):
        return bool(_DATE.match(ours["value"]))
    if ours["type"] == theirs["type"] == "number" and not isinstance(ours["value"], str):
        return isinstance(theirs["value"], (int, float)) and float(ours["value"]) == float(theirs["value"])
    return bool(ours["type"] == theirs["type"] and ours.get("value") == theirs.get("value"))


def test_every_catalog_expression_matches_n8n() -> None:
    engine = engine_dir()
    cases = _cases() + _extra_cases()
    payload = json.dumps([{k: c[k] for k in ("expression", "credentials", "self")} for c in cases])
    proc = subprocess.run(["node", str(HARNESS)], input=payload, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "N8N_WORKFLOW_DIR": str(engine)}, check=True)
    theirs = json.loads(proc.stdout)
    assert len(theirs) == len(cases)
    mismatches = []
    for case, their in zip(cases, theirs, strict=True):
        ours = _ours(case)
        if not _same(ours, their):
            mismatches.append((case["type"], case["expression"], case["credentials"], ours, their))
    print(f"n8n differential: {len(set(c['expression'] for c in cases))} expressions, {len(cases)} cases, "
          f"{len(mismatches)} mismatches")
    assert not mismatches, "\n".join(repr(m) for m in mismatches[:20])
