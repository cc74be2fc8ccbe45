"""n8n's whole credential catalog (n8n-nodes-base 2.41.2): it round-trips, registers and resolves."""

from __future__ import annotations

import json
from typing import Any

import pluggy
import pytest
from fluxnex.contract import hookspecs
from fluxnex.contract.plugins import CORE_DISTRIBUTION, PluginInfo, TypeRegistry
from fluxnex.contract.schema import CredentialType
from fluxnex.n8n._base_types import BASE_TYPES
from fluxnex.testing.n8n_catalog import catalog_path

CORE = PluginInfo("builtin", CORE_DISTRIBUTION, "0.1.0")
N8N = PluginInfo("n8n-catalog", "n8n-nodes-base", "2.41.2")


def _canonical(value: Any) -> str:
    # json text, so True/1 and False/0 (equal in Python) and 1/1.0 still count as different
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@pytest.fixture(scope="module")
def catalog() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(catalog_path().read_text(encoding="utf-8"))
    return data


def _registry() -> TypeRegistry:
    pm = pluggy.PluginManager("fluxnex")
    pm.add_hookspecs(hookspecs)
    return TypeRegistry(pm)


def test_the_catalog_has_the_expected_size(catalog: list[dict[str, Any]]) -> None:
    assert len(catalog) == 409
    assert len({d["name"] for d in catalog}) == 409
    assert sum(1 for d in catalog if "extends" in d) == 114


def test_every_definition_round_trips_unchanged(catalog: list[dict[str, Any]]) -> None:
    failures = []
    for definition in catalog:
        ct = CredentialType.from_n8n(definition)
        if _canonical(ct.to_n8n()) != _canonical(definition):
            failures.append(definition["name"])
    assert failures == []
    # the JSON of the whole list too (same keys, same values, same types)
    assert _canonical([CredentialType.from_n8n(d).to_n8n() for d in catalog]) == _canonical(catalog)


def test_round_trip_models_the_common_keys_rather_than_carrying_them_as_extra(
    catalog: list[dict[str, Any]],
) -> None:
    types = [CredentialType.from_n8n(d) for d in catalog]
    type_extra = {key for ct in types for key in ct.extra}
    prop_extra = {key for ct in types for p in ct.properties for key in p.extra}
    for modelled in ("displayName", "properties", "extends", "authenticate", "test", "documentationUrl"):
        assert modelled not in type_extra
    for modelled in ("displayName", "name", "type", "default", "typeOptions", "displayOptions", "doNotInherit"):
        assert modelled not in prop_extra
    assert sum(len(ct.properties) for ct in types) > 1500


def test_the_whole_catalog_registers_beside_core_and_every_extends_resolves(
    catalog: list[dict[str, Any]],
) -> None:
    registry = _registry()
    registry.add(BASE_TYPES.values(), CORE)
    added = registry.add(catalog, N8N, n8n_catalog=True)
    assert registry.conflicts == {}  # core's built-ins equal the catalog's definitions: no conflict
    assert len(registry.names()) == 409
    assert set(added) == {d["name"] for d in catalog} - set(BASE_TYPES)
    for name in BASE_TYPES:
        assert registry.provider(name) == CORE
    extending = [d for d in catalog if "extends" in d]
    assert len(extending) == 114
    for definition in extending:
        resolved = registry.get(definition["name"])
        own = {p["name"] for p in definition["properties"] if not p.get("doNotInherit")}
        names = [p.name for p in resolved.properties]
        assert own <= set(names), definition["name"]
        for parent in definition["extends"]:
            assert registry.is_a(definition["name"], parent)
            inherited = {p.name for p in registry.get(parent).properties if not p.do_not_inherit}
            assert inherited <= set(names), (definition["name"], parent)
    for definition in catalog:  # and every type without extends resolves to its own properties
        if "extends" not in definition:
            assert [p.to_n8n() for p in registry.get(definition["name"]).properties] == definition["properties"]


def test_the_catalog_registers_alone(catalog: list[dict[str, Any]]) -> None:
    registry = _registry()
    assert len(registry.add(catalog, N8N, n8n_catalog=True)) == 409
    assert registry.provider("oAuth2Api") == N8N


def test_core_built_ins_equal_the_catalog(catalog: list[dict[str, Any]]) -> None:
    by_name = {d["name"]: d for d in catalog}
    assert set(BASE_TYPES) <= set(by_name)
    for name, definition in BASE_TYPES.items():
        assert _canonical(definition) == _canonical(by_name[name]), name
        assert _canonical(CredentialType.from_n8n(definition).to_n8n()) == _canonical(by_name[name]), name


def test_a_changed_copy_of_a_built_in_is_a_conflict(catalog: list[dict[str, Any]]) -> None:
    registry = _registry()
    registry.add(BASE_TYPES.values(), CORE)
    changed = [dict(d) for d in catalog if d["name"] in ("oAuth2Api", "httpHeaderAuth")]
    changed[0]["displayName"] = changed[0]["displayName"] + " (fork)"
    registry.add(changed, N8N, n8n_catalog=True)
    assert set(registry.conflicts) == {changed[0]["name"]}
    assert registry.provider(changed[1]["name"]) == CORE
