"""Differential test: effective data, generic authenticate blocks and test requests against n8n's own code.

For every credential type of n8n's catalog, deterministic sets of credential values (``sample_values``: every
field filled, nothing, other choices, stored hidden fields, hidden fields stored with values of their own type,
and one case per value of every ``options`` property) are resolved by ``fluxnex.n8n.authenticate`` and by n8n's
own ``CredentialsHelper`` (the compiled module of n8n's CLI, driven by ``tests/n8n_engine/credentials.cjs``).

The reference used to be a restatement of the CLI's ``applyDefaultsAndOverwrites`` written from the same reading
of n8n as FluxNex's own code, so a rule both had missed (n8n 2.41 pins ``useDynamicClientRegistration`` and
``usePkce`` besides the endpoint fields: a stored value of a hidden one is ignored) could never show up: with
``useDynamicClientRegistration`` stored, FluxNex hid ``clientId``/``clientSecret`` where n8n keeps them, in 112
types. Now the reference is n8n's code, and the test also checks that every part really was compared.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_support import cli_dist, engine_dir
from fluxnex.contract.errors import FluxnexError
from fluxnex.contract.plugins import TypeRegistry, _new_plugin_manager
from fluxnex.n8n import register_catalog
from fluxnex.n8n.authenticate import effective_data, resolve_authenticate, resolve_test_request
from fluxnex.testing.n8n_catalog import catalog_path

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).parent / "n8n_engine" / "credentials.cjs"
_UTC_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")


def sample_values(props: list[dict[str, Any]], variant: int) -> dict[str, Any]:
    """Deterministic credential values.

    0 = every field filled in, 1 = nothing (defaults), 2 = other choices and falsy values, 3 = nulls, stored
    hidden fields (expressions among them) and an OAuth token with a callback query string, 4 = every field
    filled in and every hidden field stored with a value of its own kind that is not its default (a flag
    flipped, a number changed: what an export from another n8n version may hold).
    """
    data: dict[str, Any] = {}
    if variant == 1:
        return data
    if variant == 4:
        data = sample_values(props, 0)
        for p in props:
            if p.get("type") == "hidden" and p["name"] != "oauthTokenData":
                data[p["name"]] = _other_than(p.get("default"))
        return data
    if variant == 3:
        for p in props:
            if p.get("type") == "hidden":
                data[p["name"]] = f"={{{{ 'stored-' + {len(p['name'])} }}}}" if len(data) % 2 else "stored"
            elif p.get("type") not in ("notice", "fixedCollection", "collection"):
                data[p["name"]] = None
        data["oauthTokenData"] = {"access_token": "tok", "callbackQueryString": {"realmId": "123"}}
        data["undeclaredField"] = "dropped"
        return data
    for p in props:
        name, kind = p["name"], p.get("type")
        options = [o.get("value") for o in p.get("options") or [] if isinstance(o, dict)]
        if kind in ("hidden", "notice", "fixedCollection", "collection") or name == "oauthTokenData":
            continue
        if kind == "boolean":
            data[name] = variant == 0
        elif kind == "options" and options:
            data[name] = options[0] if variant == 0 else options[-1]
        elif kind == "multiOptions" and options:
            data[name] = options[:1]
        elif kind == "number":
            data[name] = 7 if variant == 0 else 0
        elif kind == "json":
            data[name] = '{"k": "v"}'
        elif (p.get("typeOptions") or {}).get("password"):
            data[name] = f"{name}-s3cret/+=" if variant == 0 else ""
        else:
            data[name] = f"https://{name.lower()}.example.com/api/" if variant == 0 else f" {name} "
    return data


def _other_than(default: Any) -> Any:
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        return default + 1
    if isinstance(default, str) and not default.startswith("="):
        return default + "-stored"
    return "stored"


def option_cases(props: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every field filled in (as variant 0), once for each value of each ``options`` property but the first."""
    base = sample_values(props, 0)
    cases = []
    for p in props:
        if p.get("type") != "options":
            continue
        for option in (p.get("options") or [])[1:]:
            if isinstance(option, dict):
                cases.append({**base, p["name"]: option.get("value")})
    return cases


def _ours(registry: TypeRegistry, name: str, data: dict[str, Any]) -> dict[str, Any]:
    ct = registry.get(name)
    out: dict[str, Any] = {}
    try:
        eff = effective_data(ct, data, oauth=registry.is_a(name, "oAuth2Api") or registry.is_a(name, "oAuth1Api"))
    except FluxnexError as exc:
        return {"effective": {"ok": False, "error": str(exc)}}
    out["effective"] = {"ok": True, "value": _plain(eff)}
    out["authenticate"] = {"ok": True, "value": _plain(resolve_authenticate(ct, eff))}
    out["test"] = {"ok": True, "value": _plain(resolve_test_request(ct, eff))}
    return out


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, str) and isinstance(theirs, str) and _UTC_DATE.match(theirs):
        return bool(_UTC_DATE.match(ours))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    return bool(ours == theirs)


def run_engine(catalog: list[dict[str, Any]], cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """n8n's results for ``cases`` (``{type, data}``) over ``catalog``."""
    engine = engine_dir()
    proc = subprocess.run(["node", str(HARNESS)], input=json.dumps({"catalog": catalog, "cases": cases}),
                          capture_output=True, text=True, timeout=600, check=True,
                          env={**os.environ, "N8N_WORKFLOW_DIR": str(engine), "N8N_CLI_DIST": str(cli_dist())})
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


def test_catalog_resolves_exactly_as_n8n() -> None:
    catalog = json.loads(catalog_path().read_text())
    registry = TypeRegistry(_new_plugin_manager())
    register_catalog(registry, catalog)
    cases = []
    for ctype in catalog:
        props = [p.to_n8n() for p in registry.get(ctype["name"]).properties]
        for variant in range(5):
            cases.append({"type": ctype["name"], "data": sample_values(props, variant)})
        cases.extend({"type": ctype["name"], "data": data} for data in option_cases(props))
    theirs = run_engine(catalog, cases)
    counts = {"effective": 0, "authenticate": 0, "test": 0}
    mismatches = []
    by_name = {c["name"]: c for c in catalog}
    for case, their in zip(cases, theirs, strict=True):
        ours = _ours(registry, case["type"], case["data"])
        ctype = by_name[case["type"]]
        names = [p.name for p in registry.get(case["type"]).properties]
        if names != [n for n in their["properties"] if n != "oauthTokenData"]:
            mismatches.append((case["type"], "properties", names, their["properties"]))
        for part in ("effective", "authenticate", "test"):
            mine, ref = ours.get(part, {"ok": False, "error": "not resolved"}), their[part]
            if part == "effective" or (part == "authenticate" and (ctype.get("authenticate") or {}).get(
                    "type") == "generic") or (part == "test" and (ctype.get("test") or {}).get("request")):
                counts[part] += 1
            same = mine["ok"] == ref["ok"] and (not mine["ok"] or _same(mine.get("value"), ref.get("value")))
            if not same:
                mismatches.append((case["type"], part, case["data"], mine, ref))
    print(f"n8n credential differential: {len(catalog)} types, {len(cases)} cases, "
          f"{counts['effective']} effective data, {counts['authenticate']} authenticate blocks, "
          f"{counts['test']} test requests compared, {len(mismatches)} mismatches")
    assert not mismatches, "\n".join(repr(m)[:600] for m in mismatches[:15])
    assert {case["type"] for case in cases} == set(by_name) and len(by_name) == 409
    # every part was compared for real: n8n answered, and types with a generic block or test request exist
    generic = sum(1 for c in catalog if (c.get("authenticate") or {}).get("type") == "generic")
    tests = sum(1 for c in catalog if (c.get("test") or {}).get("request"))
    assert counts["authenticate"] >= 5 * generic and counts["test"] >= 5 * tests, counts
    assert sum(1 for t in theirs if t["effective"]["ok"]) > 0.9 * len(cases)
