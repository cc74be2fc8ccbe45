"""docs/n8n.md's coverage table is what ``tools/n8n_coverage.py`` generates from the catalog, and it classifies
by what FluxNex implements (the hook-up functions), not by a hand-kept list."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fluxnex.testing.n8n_catalog import catalog_path

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("n8n_coverage", ROOT / "tools" / "n8n_coverage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["n8n_coverage"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return _tool()


@pytest.fixture(scope="module")
def registry(tool: ModuleType) -> Any:
    return tool.catalog_registry()


def test_the_docs_table_is_the_generated_one(tool: ModuleType, registry: Any) -> None:
    text = (ROOT / "docs" / "n8n.md").read_text(encoding="utf-8")
    section = text[text.index(tool.START):text.index(tool.END) + len(tool.END)] + "\n"
    assert section == tool.render(tool.rows(registry)), "run python tools/n8n_coverage.py"
    assert tool.main(["--check"]) == 0


def test_every_catalog_type_appears_once_with_one_kind(tool: ModuleType, registry: Any) -> None:
    catalog = {t["name"]: t for t in json.loads(catalog_path().read_text(encoding="utf-8"))}
    table = tool.rows(registry)
    assert sorted(name for name, _, _ in table) == sorted(catalog) and len(catalog) == 409
    assert {kind for _, _, kind in table} <= set(tool.KINDS)
    kinds = {name: (n8n, ours) for name, n8n, ours in table}
    assert kinds["mailchimpApi"] == ("declarative", "declarative")
    assert kinds["hubspotOAuth2Api"] == ("OAuth2", "OAuth2")
    assert kinds["postgres"] == ("none", "not HTTP")
    assert kinds["acuitySchedulingApi"] == ("node code", "code")
    assert kinds["httpBasicAuth"] == ("none", "code")  # core's built-in hook answers for it
    for name in tool.NOT_HTTP:  # the one list in the tool: protocol credentials, no request authentication
        assert name in catalog and not catalog[name].get("authenticate") and kinds[name][0] == "none"


def test_the_hook_up_point_moves_types_out_of_needs_a_plugin(tool: ModuleType, registry: Any) -> None:
    none = tool.implemented_sets({"code": "fluxnex.n8n.no_such_module:implemented"})
    assert none == {"code": set()}
    before = {name: ours for name, _, ours in tool.rows(registry, {})}
    assert before["aws"] == before["metabaseApi"] == before["twitterOAuth1Api"] == "needs a plugin"
    after = {name: ours for name, _, ours in tool.rows(registry, {
        "code": {"aws"}, "pre-authentication": {"metabaseApi"}, "OAuth1": {"oAuth1Api"}})}
    assert (after["aws"], after["metabaseApi"], after["twitterOAuth1Api"]) == ("code", "pre-authentication",
                                                                                "OAuth1")
    changed = Counter(before[n] + " -> " + after[n] for n in before if before[n] != after[n])
    assert changed == Counter({"needs a plugin -> code": 1, "needs a plugin -> pre-authentication": 1,
                               "needs a plugin -> OAuth1": 3})
