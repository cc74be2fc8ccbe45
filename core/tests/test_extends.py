"""``extends`` resolved exactly as n8n's ``getCredentialsProperties`` + ``NodeHelpers.mergeNodeProperties`` do it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pluggy
import pytest
from fluxnex.contract import hookspecs
from fluxnex.contract.plugins import PluginInfo, TypeRegistry
from fluxnex.testing.n8n_catalog import catalog_path, engine_dir

PROVIDER = PluginInfo("synthetic", "synthetic-fluxnex", "1.0.0")
N8N = PluginInfo("n8n", "n8n-nodes-base", "2.41.2")


def _p(name: str, tag: str = "", **fields: Any) -> dict[str, Any]:
    """A property whose default records where it came from (``tag``)."""
    return {"displayName": name, "name": name, "type": "string", "default": tag or name, **fields}


def _type(name: str, *props: dict[str, Any], extends: list[str] | None = None, **rest: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {"name": name, "displayName": name, "properties": list(props), **rest}
    if extends is not None:
        definition["extends"] = extends
    return definition


def _registry(*definitions: dict[str, Any], n8n_catalog: bool = False) -> TypeRegistry:
    pm = pluggy.PluginManager("fluxnex")
    pm.add_hookspecs(hookspecs)
    registry = TypeRegistry(pm)
    registry.add(definitions, PROVIDER, n8n_catalog=n8n_catalog)
    return registry


def _resolved(registry: TypeRegistry, name: str) -> list[tuple[str, Any]]:
    return [(p.name, p.default) for p in registry.get(name).properties]


# -- synthetic types --------------------------------------------------------------------------------


def test_parents_merge_in_listed_order_and_a_later_parent_overrides_in_place() -> None:
    registry = _registry(
        _type("aApi", _p("a1", "A"), _p("shared", "A"), _p("a2", "A")),
        _type("bApi", _p("b1", "B"), _p("shared", "B")),
        _type("childApi", _p("c1", "C"), extends=["aApi", "bApi"]),
        _type("reversedApi", extends=["bApi", "aApi"]),
    )
    assert _resolved(registry, "childApi") == [
        ("a1", "A"), ("shared", "B"), ("a2", "A"), ("b1", "B"), ("c1", "C")
    ]
    assert _resolved(registry, "reversedApi") == [("b1", "B"), ("shared", "A"), ("a1", "A"), ("a2", "A")]


def test_the_child_overrides_every_parent_keeping_the_inherited_position() -> None:
    registry = _registry(
        _type("aApi", _p("url", "A"), _p("token", "A", type="password")),
        _type("bApi", _p("scope", "B"), _p("url", "B")),
        _type("childApi", _p("extra", "C"), _p("url", "C", type="hidden"), _p("scope", "C"), extends=["aApi", "bApi"]),
    )
    resolved = registry.get("childApi")
    assert [(p.name, p.default) for p in resolved.properties] == [
        ("url", "C"), ("token", "A"), ("scope", "C"), ("extra", "C")
    ]
    assert resolved.properties[0].type == "hidden"  # the whole property is replaced, not merged key by key
    assert resolved.secret_fields == {"token", "oauthTokenData"}


def test_do_not_inherit_properties_stay_with_their_type() -> None:
    registry = _registry(
        _type("baseApi", _p("url", "base"), _p("insecure", "base", doNotInherit=True), _p("scope", "base")),
        _type("childApi", _p("own", "child"), extends=["baseApi"]),
        _type("redefinesApi", _p("insecure", "redefined"), extends=["baseApi"]),
    )
    # the type that declares it (and has no extends) keeps it
    assert _resolved(registry, "baseApi") == [("url", "base"), ("insecure", "base"), ("scope", "base")]
    assert _resolved(registry, "childApi") == [("url", "base"), ("scope", "base"), ("own", "child")]
    # a child that declares the name itself gets its own, appended (the parent's slot was skipped)
    assert _resolved(registry, "redefinesApi") == [("url", "base"), ("scope", "base"), ("insecure", "redefined")]


def test_do_not_inherit_on_a_type_that_extends_drops_it_from_that_type_too() -> None:
    # n8n merges a type's own properties with mergeNodeProperties as well, which skips doNotInherit.
    registry = _registry(
        _type("baseApi", _p("url")),
        _type("midApi", _p("local", doNotInherit=True), _p("kept"), extends=["baseApi"]),
        _type("emptyExtendsApi", _p("local", doNotInherit=True), _p("kept"), extends=[]),
        _type("noExtendsApi", _p("local", doNotInherit=True), _p("kept")),
    )
    assert [n for n, _ in _resolved(registry, "midApi")] == ["url", "kept"]
    assert [n for n, _ in _resolved(registry, "emptyExtendsApi")] == ["kept"]  # [] is not "no extends"
    assert [n for n, _ in _resolved(registry, "noExtendsApi")] == ["local", "kept"]


def test_resolution_is_recursive() -> None:
    registry = _registry(
        _type("grandApi", _p("g1", "G"), _p("g2", "G"), _p("g3", "G")),
        _type("parentApi", _p("p1", "P"), _p("g2", "P"), extends=["grandApi"]),
        _type("childApi", _p("g1", "C"), _p("c1", "C"), extends=["parentApi"]),
    )
    assert _resolved(registry, "parentApi") == [("g1", "G"), ("g2", "P"), ("g3", "G"), ("p1", "P")]
    assert _resolved(registry, "childApi") == [("g1", "C"), ("g2", "P"), ("g3", "G"), ("p1", "P"), ("c1", "C")]
    assert registry.ancestors("childApi") == ["parentApi", "grandApi"]


def test_a_diamond_resolves_the_shared_grandparent_through_each_parent() -> None:
    registry = _registry(
        _type("rootApi", _p("r", "R"), _p("x", "R")),
        _type("leftApi", _p("x", "L"), extends=["rootApi"]),
        _type("rightApi", _p("y", "Y"), extends=["rootApi"]),
        _type("leafApi", extends=["leftApi", "rightApi"]),
    )
    # rightApi re-brings rootApi's x, which overrides leftApi's x (n8n has no notion of a diamond)
    assert _resolved(registry, "leafApi") == [("r", "R"), ("x", "R"), ("y", "Y")]


def test_a_name_declared_twice_keeps_the_last_when_merged_and_both_otherwise() -> None:
    registry = _registry(
        _type("baseApi", _p("host", "base"), _p("port", "base")),
        _type("dupChildApi", _p("host", "first"), _p("host", "second"), extends=["baseApi"]),
        _type("dupPlainApi", _p("host", "first"), _p("host", "second")),
        n8n_catalog=True,
    )
    assert _resolved(registry, "dupChildApi") == [("host", "second"), ("port", "base")]
    assert _resolved(registry, "dupPlainApi") == [("host", "first"), ("host", "second")]


def test_resolution_leaves_definitions_alone_and_keeps_the_childs_own_attributes() -> None:
    auth = {"type": "generic", "properties": {"headers": {"X-Key": "={{$credentials.key}}"}}}
    registry = _registry(
        _type("baseApi", _p("key", type="password"), authenticate=auth, test={"request": {"url": "/me"}}),
        _type("childApi", _p("region"), extends=["baseApi"], documentationUrl="child-docs"),
    )
    child = registry.get("childApi")
    assert child.name == "childApi" and child.extends == ["baseApi"] and child.documentation_url == "child-docs"
    # n8n reads authenticate/test from the type itself, never from a parent
    assert child.authenticate is None and child.test is None
    assert [p.name for p in registry.definition("childApi").properties] == ["region"]
    assert [p.name for p in registry.get("baseApi").properties] == ["key"]
    assert registry.get("childApi") is child  # cached


# -- n8n's catalog ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(catalog_path().read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def catalog_registry(catalog: list[dict[str, Any]]) -> TypeRegistry:
    pm = pluggy.PluginManager("fluxnex")
    pm.add_hookspecs(hookspecs)
    registry = TypeRegistry(pm)
    registry.add(catalog, N8N, n8n_catalog=True)
    return registry


OAUTH2_INHERITED = [
    "useDynamicClientRegistration", "grantType", "serverUrl", "authUrl", "accessTokenUrl", "clientId",
    "clientCredentialType", "clientSecret", "privateKey", "certificate", "scope", "authQueryParameters",
    "authentication", "sendAdditionalBodyProperties", "additionalBodyProperties",
]
OAUTH2_NOT_INHERITED = {"ignoreSSLIssues", "tokenExpiredStatusCode", "jweEnabled", "jwksUri", "inlineJwks"}


def test_oauth2api_itself_keeps_its_do_not_inherit_properties(catalog_registry: TypeRegistry) -> None:
    names = [p.name for p in catalog_registry.get("oAuth2Api").properties]
    assert names == [*OAUTH2_INHERITED, "ignoreSSLIssues", "tokenExpiredStatusCode", "jweEnabled", "jwksUri",
                     "inlineJwks"]


def test_hubspot_oauth2_resolves_as_n8n_does(catalog_registry: TypeRegistry) -> None:
    hubspot = catalog_registry.get("hubspotOAuth2Api")
    props = {p.name: p for p in hubspot.properties}
    assert [p.name for p in hubspot.properties] == OAUTH2_INHERITED  # overrides stay in the parent's slots
    assert {name: (props[name].type, props[name].default) for name in (
        "grantType", "authUrl", "accessTokenUrl", "authQueryParameters", "authentication"
    )} == {
        "grantType": ("hidden", "authorizationCode"),
        "authUrl": ("hidden", "https://app.hubspot.com/oauth/authorize"),
        "accessTokenUrl": ("hidden", "https://api.hubapi.com/oauth/v1/token"),
        "authQueryParameters": ("hidden", "grant_type=authorization_code"),
        "authentication": ("hidden", "body"),
    }
    assert props["scope"].default.startswith("crm.lists.write crm.objects.contacts.read")
    # inherited unchanged from oAuth2Api
    assert props["clientSecret"].type_options == {"password": True} and props["clientSecret"].required
    assert props["useDynamicClientRegistration"].default is False
    assert props["clientCredentialType"].default == "clientSecret"
    assert hubspot.secret_fields == {"clientSecret", "privateKey", "oauthTokenData"}


def test_gmail_resolves_through_google_to_oauth2(catalog_registry: TypeRegistry) -> None:
    gmail = catalog_registry.get("gmailOAuth2")
    names = [p.name for p in gmail.properties]
    assert names == [*OAUTH2_INHERITED, "customScopes", "customScopesNotice", "enabledScopes"]
    props = {p.name: p for p in gmail.properties}
    assert props["authUrl"].default.startswith("https://accounts.google.com/")  # from googleOAuth2Api
    assert props["authQueryParameters"].default == "access_type=offline&prompt=consent"
    assert props["scope"].default.startswith('={{$self["customScopes"]')  # from gmailOAuth2 itself
    assert catalog_registry.ancestors("gmailOAuth2") == ["googleOAuth2Api", "oAuth2Api"]


def test_no_oauth2_child_in_the_catalog_inherits_do_not_inherit_properties(
    catalog_registry: TypeRegistry,
) -> None:
    children = [n for n in catalog_registry.names() if n != "oAuth2Api" and catalog_registry.is_a(n, "oAuth2Api")]
    assert len(children) > 90
    for name in children:
        own = {p.name for p in catalog_registry.definition(name).properties}  # databricks declares one itself
        leaked = (OAUTH2_NOT_INHERITED - own) & {p.name for p in catalog_registry.get(name).properties}
        assert not leaked, f"{name} inherited {leaked}"


# -- against n8n's own mergeNodeProperties ------------------------------------------------------------

# getCredentialsProperties transcribed from n8n's packages/cli/src/credentials-helper.ts, with n8n-workflow's
# real NodeHelpers.mergeNodeProperties doing the merging.
_N8N_RESOLVE = r"""
const path = require('path');
const fs = require('fs');
const { NodeHelpers } = require(path.join(process.env.N8N_WORKFLOW_DIR, 'node_modules', 'n8n-workflow'));
const types = Object.fromEntries(JSON.parse(fs.readFileSync(process.argv[1], 'utf8')).map((t) => [t.name, t]));
function getCredentialsProperties(type) {
  const data = types[type];
  if (data.extends === undefined) {
    if (['oAuth1Api', 'oAuth2Api'].includes(type)) {
      return [...data.properties,
        { displayName: 'oauthTokenData', name: 'oauthTokenData', type: 'json', required: false, default: {} }];
    }
    return data.properties;
  }
  const combined = [];
  for (const parent of data.extends) NodeHelpers.mergeNodeProperties(combined, getCredentialsProperties(parent));
  NodeHelpers.mergeNodeProperties(combined, data.properties);
  return combined;
}
const out = {};
for (const name of Object.keys(types)) out[name] = getCredentialsProperties(name);
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.n8n_engine
def test_every_catalog_type_resolves_as_n8n_workflow_resolves_it(
    catalog: list[dict[str, Any]], catalog_registry: TypeRegistry
) -> None:
    workdir = engine_dir()  # installs n8n-workflow with npm when no earlier run left it in the cache
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "-e", _N8N_RESOLVE, str(catalog_path())], capture_output=True, text=True, check=True, timeout=120,
        env={**os.environ, "N8N_WORKFLOW_DIR": str(workdir)},
    )
    expected: dict[str, list[dict[str, Any]]] = json.loads(result.stdout)
    assert len(expected) == 409
    for name, n8n_props in expected.items():
        # n8n appends its token store to oAuth1Api/oAuth2Api as a property; FluxNex keeps oauthTokenData as
        # framework data outside the properties (it is in every type's secret_fields instead).
        n8n_props = [p for p in n8n_props if p["name"] != "oauthTokenData"]
        ours = [p.to_n8n() for p in catalog_registry.get(name).properties]
        assert ours == n8n_props, name
