"""Definition checks (``check_definition`` and ``TypeRegistry.add``) and the registry's conflicts and queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy
import pytest
from fluxnex import PluginError, UnknownCredentialType
from fluxnex.contract import hookspecs
from fluxnex.contract.definitions import check_definition
from fluxnex.contract.plugins import PluginInfo, TypeRegistry
from fluxnex.contract.schema import CredentialType

ACME = PluginInfo("acme", "acme-fluxnex", "1.0.0")
OTHER = PluginInfo("other", "other-fluxnex", "2.0.0")


def _registry() -> TypeRegistry:
    pm = pluggy.PluginManager("fluxnex")
    pm.add_hookspecs(hookspecs)
    return TypeRegistry(pm)


def _type(name: str, *props: dict[str, Any], extends: list[str] | None = None) -> dict[str, Any]:
    definition: dict[str, Any] = {"name": name, "displayName": name.title(), "properties": list(props)}
    if extends is not None:
        definition["extends"] = extends
    return definition


def _p(name: str, **fields: Any) -> dict[str, Any]:
    return {"displayName": name.title(), "name": name, "type": "string", "default": "", **fields}


def _lookup(*definitions: dict[str, Any]) -> Callable[[str], CredentialType | None]:
    by_name = {d["name"]: CredentialType.from_n8n(d) for d in definitions}
    return by_name.get


OPTIONS = [{"name": "EU", "value": "eu"}, {"name": "US", "value": "us"}]

# (definition, the other types it may refer to, the property the message names, the problem)
BAD: dict[str, tuple[dict[str, Any], list[dict[str, Any]], str | None, str]] = {
    "duplicate property": (
        _type("dupApi", _p("host"), _p("token"), _p("host")), [], "host", "duplicate property name"
    ),
    "unknown property type": (
        _type("oddApi", _p("when", type="timestamp")), [], "when", "unknown property type 'timestamp'"
    ),
    "options default not an option": (
        _type("regionApi", _p("region", type="options", options=OPTIONS, default="asia")), [], "region",
        "default 'asia' is not among its options",
    ),
    "multiOptions default not an option": (
        _type("scopesApi", _p("scopes", type="multiOptions", options=OPTIONS, default=["eu", "mars"])), [],
        "scopes", "default 'mars' is not among its options",
    ),
    "extends an unknown type": (
        _type("childApi", _p("a"), extends=["noSuchParentApi"]), [], None,
        "extends unknown credential type 'noSuchParentApi'",
    ),
    "extends itself": (_type("selfApi", extends=["selfApi"]), [], None, "inheritance cycle: selfApi -> selfApi"),
    "direct cycle": (
        _type("aApi", extends=["bApi"]), [_type("bApi", extends=["aApi"])], None,
        "inheritance cycle: aApi -> bApi -> aApi",
    ),
    "indirect cycle": (
        _type("aApi", extends=["bApi"]),
        [_type("bApi", extends=["cApi"]), _type("cApi", extends=["baseApi", "aApi"]), _type("baseApi")],
        None,
        "inheritance cycle: aApi -> bApi -> cApi -> aApi",
    ),
    "empty property name": (_type("blankApi", _p("")), [], "", "a property has no name"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_definition_names_the_type_the_property_and_the_distribution(case: str) -> None:
    definition, others, prop, problem = BAD[case]
    with pytest.raises(PluginError) as caught:
        check_definition(
            CredentialType.from_n8n(definition), _lookup(definition, *others), distribution="acme-fluxnex"
        )
    message = str(caught.value)
    assert message.startswith("acme-fluxnex: ")
    assert f"credential type {definition['name']!r}" in message
    if prop:
        assert f"property {prop!r}" in message
    assert problem in message


@pytest.mark.parametrize("case", sorted(BAD))
def test_registry_add_rejects_the_whole_plugin(case: str) -> None:
    definition, others, _, problem = BAD[case]
    registry = _registry()
    registry.add([_type("baseApi", _p("url"))], OTHER)
    good = _type("goodApi", _p("url"))
    with pytest.raises(PluginError) as caught:
        registry.add([good, *[o for o in others if o["name"] != "baseApi"], definition], ACME)
    # a cycle is reported from whichever of its members is checked first
    expected = "inheritance cycle: " if "cycle" in problem else problem
    assert str(caught.value).startswith("acme-fluxnex: credential type ") and expected in str(caught.value)
    assert registry.names() == ["baseApi"]  # all or none: goodApi is not registered either
    with pytest.raises(UnknownCredentialType):
        registry.get("goodApi")


def test_valid_definitions_pass() -> None:
    ok = [
        _type("baseApi", _p("url"), _p("region", type="options", options=OPTIONS, default="eu")),
        _type(
            "childApi",
            # an empty options default means "not chosen yet", an expression is resolved later
            _p("region", type="options", options=OPTIONS, default=""),
            _p("zone", type="options", options=OPTIONS, default="={{$self.region}}"),
            _p("scopes", type="multiOptions", options=OPTIONS, default=["eu", "us"]),
            _p("mode", type="options", options=OPTIONS, default=None),
            _p("secret", type="password"),
            extends=["baseApi"],
        ),
    ]
    lookup = _lookup(*ok)
    for definition in ok:
        check_definition(CredentialType.from_n8n(definition), lookup, distribution="acme-fluxnex")
    registry = _registry()
    assert registry.add(ok, ACME) == ["baseApi", "childApi"]


def test_duplicate_properties_are_allowed_for_n8n_catalog_only() -> None:
    dup = _type("dupApi", _p("host"), _p("host", default="x"))
    with pytest.raises(PluginError, match="duplicate property name"):
        _registry().add([dup], ACME)
    registry = _registry()
    registry.add([dup], ACME, n8n_catalog=True)
    assert [p.default for p in registry.get("dupApi").properties] == ["", "x"]


def test_a_plugin_registering_a_type_twice_is_rejected() -> None:
    registry = _registry()
    with pytest.raises(PluginError, match=r"acme-fluxnex: credential type 'twiceApi' is registered twice"):
        registry.add([_type("twiceApi"), _type("twiceApi", _p("x"))], ACME)
    assert registry.names() == []


def test_an_unregistrable_value_names_the_distribution() -> None:
    with pytest.raises(PluginError, match=r"^acme-fluxnex: cannot register"):
        _registry().add([object()], ACME)


def test_a_parent_may_come_from_another_plugin_or_later_in_the_same_plugin() -> None:
    registry = _registry()
    registry.add([_type("baseApi", _p("url"))], OTHER)
    registry.add([_type("grandchildApi", extends=["childApi"]), _type("childApi", extends=["baseApi"])], ACME)
    assert [p.name for p in registry.get("grandchildApi").properties] == ["url"]


# -- conflicts --------------------------------------------------------------------------------------


def test_two_distributions_registering_the_same_name_is_an_error_naming_both() -> None:
    registry = _registry()
    registry.add([_type("sharedApi", _p("a")), _type("onlyAcmeApi")], ACME)
    registry.add([_type("sharedApi", _p("b"))], OTHER)
    with pytest.raises(PluginError) as caught:
        registry.get("sharedApi")
    message = str(caught.value)
    assert "'sharedApi'" in message and "acme-fluxnex 1.0.0" in message and "other-fluxnex 2.0.0" in message
    with pytest.raises(PluginError, match=r"acme-fluxnex 1\.0\.0 and other-fluxnex 2\.0\.0"):
        registry.definition("sharedApi")
    assert registry.conflicts == {"sharedApi": [ACME, OTHER]}
    assert "sharedApi" not in registry.names()
    assert registry.get("onlyAcmeApi").name == "onlyAcmeApi"  # the rest of both plugins is unaffected


def test_a_third_provider_joins_the_conflict() -> None:
    registry = _registry()
    third = PluginInfo("third", "third-fluxnex", "3.0.0")
    for provider, prop in ((ACME, "a"), (OTHER, "b"), (third, "c")):
        registry.add([_type("sharedApi", _p(prop))], provider)
    with pytest.raises(PluginError, match=r"third-fluxnex 3\.0\.0"):
        registry.get("sharedApi")


def test_the_same_definition_from_two_distributions_is_no_conflict() -> None:
    registry = _registry()
    definition = _type("sharedApi", _p("a", type="password"), extends=None)
    registry.add([definition], ACME)
    assert registry.add([dict(definition)], PluginInfo("n8n", "n8n-nodes-base", "2.41.2"), n8n_catalog=True) == []
    assert registry.conflicts == {}
    assert registry.provider("sharedApi") == ACME  # the first provider keeps it
    assert registry.get("sharedApi").secret_fields == {"a", "oauthTokenData"}


def test_a_child_of_a_conflicting_type_reports_the_conflict() -> None:
    registry = _registry()
    registry.add([_type("sharedApi", _p("a")), _type("childApi", _p("c"), extends=["sharedApi"])], ACME)
    registry.add([_type("sharedApi", _p("b"))], OTHER)
    with pytest.raises(PluginError) as caught:
        registry.get("childApi")
    # the real cause is the conflict over the parent, which names both distributions
    assert "'sharedApi'" in str(caught.value)
    assert "acme-fluxnex" in str(caught.value) and "other-fluxnex" in str(caught.value)


def test_unknown_type_error() -> None:
    registry = _registry()
    with pytest.raises(UnknownCredentialType, match="nopeApi"):
        registry.get("nopeApi")
    assert "nopeApi" not in registry


# -- ancestors --------------------------------------------------------------------------------------


def test_ancestors_and_is_a() -> None:
    registry = _registry()
    registry.add(
        [
            _type("rootApi", _p("r")),
            _type("leftApi", _p("l"), extends=["rootApi"]),
            _type("rightApi", _p("x")),
            _type("leafApi", _p("z"), extends=["leftApi", "rightApi"]),
        ],
        ACME,
    )
    assert registry.ancestors("leafApi") == ["leftApi", "rightApi", "rootApi"]  # nearest first
    assert registry.ancestors("rootApi") == []
    assert registry.is_a("leafApi", "rootApi") and registry.is_a("leafApi", "leafApi")
    assert registry.is_a("leftApi", "rootApi") and not registry.is_a("rootApi", "leftApi")
    assert not registry.is_a("rightApi", "rootApi")
    assert "leafApi" in registry and registry.definition("leafApi").extends == ["leftApi", "rightApi"]
