"""The n8n schema as attrs classes: class style, secrets, unknown keys kept, conversion to/from n8n JSON."""

from __future__ import annotations

from typing import Any

import pytest
from fluxnex import CredentialType, PluginError, Property
from fluxnex.contract.schema import UNSET


class AcmeApi(CredentialType):
    name = "acmeApi"
    display_name = "Acme API"
    documentation_url = "https://acme.example/docs"
    properties = [
        Property(display_name="Base URL", name="baseUrl", type="string", default="https://api.acme.example"),
        Property(display_name="Access Token", name="accessToken", type="password"),
    ]


def _prop(**fields: Any) -> Property:
    return Property.from_n8n({"displayName": "Field", "name": "field", **fields})


# -- class style ------------------------------------------------------------------------------------


def test_a_class_written_in_class_style_becomes_an_instance_of_itself() -> None:
    ct = CredentialType.coerce(AcmeApi)
    assert isinstance(ct, AcmeApi)
    assert ct.name == "acmeApi" and ct.display_name == "Acme API"
    assert ct.documentation_url == "https://acme.example/docs"
    assert [p.name for p in ct.properties] == ["baseUrl", "accessToken"]
    assert ct.extends is None
    assert ct.to_n8n() == {
        "name": "acmeApi",
        "displayName": "Acme API",
        "documentationUrl": "https://acme.example/docs",
        "properties": [
            {"displayName": "Base URL", "name": "baseUrl", "type": "string", "default": "https://api.acme.example"},
            {"displayName": "Access Token", "name": "accessToken", "type": "password"},
        ],
    }


def test_class_style_properties_may_be_n8n_json_and_the_class_list_is_not_shared() -> None:
    class JsonProps(CredentialType):
        name = "jsonProps"
        display_name = "JSON props"
        extends = ["oAuth2Api"]
        properties = [{"displayName": "Scope", "name": "scope", "type": "hidden", "default": "read"}]  # type: ignore[list-item]

    ct = CredentialType.coerce(JsonProps)
    assert isinstance(ct.properties[0], Property)
    assert ct.properties[0].default == "read" and ct.properties[0].type == "hidden"
    assert ct.extends == ["oAuth2Api"]
    ct.properties.append(Property(display_name="X", name="x"))
    assert len(JsonProps.properties) == 1


def test_a_class_without_properties_has_none() -> None:
    class Bare(CredentialType):
        name = "bare"
        display_name = "Bare"

    assert CredentialType.coerce(Bare).properties == []


def test_a_class_without_display_name_is_a_plugin_error_naming_the_class() -> None:
    class Nameless(CredentialType):
        name = "nameless"

    with pytest.raises(PluginError, match="Nameless"):
        CredentialType.coerce(Nameless)


def test_coerce_accepts_instances_and_n8n_json_and_rejects_anything_else() -> None:
    instance = CredentialType(name="x", display_name="X")
    assert CredentialType.coerce(instance) is instance
    from_json = CredentialType.coerce({"name": "y", "displayName": "Y", "properties": []})
    assert type(from_json) is CredentialType and from_json.name == "y"
    with pytest.raises(PluginError, match="cannot register"):
        CredentialType.coerce(42)


# -- secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "secret"),
    [
        ({"type": "password"}, True),
        ({"type": "string", "typeOptions": {"password": True}}, True),
        ({"type": "string", "typeOptions": {"expirable": True}}, True),
        ({"type": "hidden", "typeOptions": {"expirable": True}, "name": "sessionToken"}, True),
        ({"type": "hidden", "name": "accessToken"}, True),
        ({"type": "hidden", "name": "refresh_token"}, True),
        ({"type": "hidden", "name": "clientSecret"}, True),
        ({"type": "hidden", "name": "privateKey"}, True),
        ({"type": "hidden", "name": "apiKey"}, True),
        ({"type": "hidden", "name": "accessTokenUrl"}, False),
        ({"type": "hidden", "name": "tokenUri"}, False),
        ({"type": "hidden", "name": "grantType"}, False),
        ({"type": "string"}, False),
        ({"type": "string", "typeOptions": {"password": False}}, False),
        ({"type": "string", "typeOptions": {"rows": 4}}, False),
        ({"type": "boolean"}, False),
    ],
)
def test_property_is_secret(fields: dict[str, Any], secret: bool) -> None:
    assert _prop(**fields).is_secret is secret


def test_secret_fields_lists_the_secret_properties_and_the_token_data() -> None:
    ct = CredentialType.from_n8n(
        {
            "name": "mixed",
            "displayName": "Mixed",
            "properties": [
                {"displayName": "URL", "name": "url", "type": "string", "default": ""},
                {"displayName": "Key", "name": "key", "type": "string", "typeOptions": {"password": True}},
                {"displayName": "Session", "name": "sessionToken", "type": "hidden",
                 "typeOptions": {"expirable": True}},
                {"displayName": "Token URL", "name": "accessTokenUrl", "type": "hidden", "default": ""},
            ],
        }
    )
    assert ct.secret_fields == frozenset({"key", "sessionToken", "oauthTokenData"})
    assert not ct.is_secret("url") and not ct.is_secret("accessTokenUrl")
    assert ct.is_secret("key")
    assert ct.is_secret("somethingUndeclared")  # unknown data is treated as secret
    assert CredentialType.coerce(AcmeApi).secret_fields == frozenset({"accessToken", "oauthTokenData"})


# -- n8n JSON ---------------------------------------------------------------------------------------


def test_unknown_keys_are_kept_on_the_type_and_on_properties() -> None:
    source = {
        "name": "future",
        "displayName": "Future",
        "iconColor": "blue",
        "preAuthentication": {"ttl": 60},
        "properties": [
            {"displayName": "A", "name": "a", "type": "string", "default": "", "envFeatureFlag": "X",
             "noDataExpression": True},
        ],
    }
    ct = CredentialType.from_n8n(source)
    assert ct.extra == {"iconColor": "blue", "preAuthentication": {"ttl": 60}}
    assert ct.properties[0].extra == {"envFeatureFlag": "X", "noDataExpression": True}
    assert ct.to_n8n() == source
    assert "iconColor" not in repr(ct)  # extra stays out of repr


def test_known_keys_map_to_snake_case_attributes() -> None:
    ct = CredentialType.from_n8n(
        {
            "name": "t",
            "displayName": "T",
            "documentationUrl": "doc",
            "genericAuth": True,
            "supportedNodes": ["n"],
            "httpRequestNode": {"name": "T", "docsUrl": "d"},
            "iconUrl": "icons/t.svg",
            "authenticate": {"type": "generic", "properties": {"headers": {"X": "={{$credentials.a}}"}}},
            "test": {"request": {"baseURL": "https://t.example"}},
            "properties": [
                {"displayName": "A", "name": "a", "type": "options", "default": "x", "required": True,
                 "options": [{"name": "X", "value": "x"}], "displayOptions": {"show": {"b": [True]}},
                 "typeOptions": {"rows": 2}, "doNotInherit": True, "description": "d", "placeholder": "p",
                 "hint": "h"},
            ],
        }
    )
    assert ct.documentation_url == "doc" and ct.generic_auth is True and ct.supported_nodes == ["n"]
    assert ct.http_request_node == {"name": "T", "docsUrl": "d"} and ct.icon_url == "icons/t.svg"
    assert ct.authenticate is not None and ct.authenticate["type"] == "generic"
    assert ct.test == {"request": {"baseURL": "https://t.example"}}
    prop = ct.properties[0]
    assert (prop.required, prop.do_not_inherit, prop.description, prop.placeholder, prop.hint) == (
        True, True, "d", "p", "h"
    )
    assert prop.display_options == {"show": {"b": [True]}} and prop.type_options == {"rows": 2}
    assert prop.option_values == ["x"]
    assert ct.extra == {} and prop.extra == {}


def test_an_absent_default_differs_from_a_null_default() -> None:
    absent = _prop(type="string")
    null = _prop(type="string", default=None)
    assert absent.default is UNSET and not UNSET
    assert null.default is None
    assert "default" not in absent.to_n8n()
    assert null.to_n8n()["default"] is None


def test_type_is_written_even_when_it_is_the_default_and_properties_even_when_empty() -> None:
    prop = Property(display_name="A", name="a")
    assert prop.to_n8n() == {"displayName": "A", "name": "a", "type": "string"}
    empty = CredentialType(name="e", display_name="E")
    assert empty.to_n8n() == {"name": "e", "displayName": "E", "properties": []}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "string"}, ""),
        ({"type": "boolean"}, False),
        ({"type": "number"}, 0),
        ({"type": "multiOptions", "options": []}, []),
        ({"type": "collection"}, {}),
        ({"type": "string", "default": "x"}, "x"),
        ({"type": "number", "default": None}, None),
    ],
)
def test_default_value(fields: dict[str, Any], expected: Any) -> None:
    assert _prop(**fields).default_value == expected


def test_defaults_skips_notices() -> None:
    ct = CredentialType.from_n8n(
        {
            "name": "n",
            "displayName": "N",
            "properties": [
                {"displayName": "Read this", "name": "notice", "type": "notice", "default": ""},
                {"displayName": "Port", "name": "port", "type": "number", "default": 5432},
                {"displayName": "SSL", "name": "ssl", "type": "boolean"},
            ],
        }
    )
    assert ct.defaults() == {"port": 5432, "ssl": False}


def test_option_values_only_for_option_properties() -> None:
    options = [{"name": "A", "value": "a"}, {"name": "B", "value": 2}]
    assert _prop(type="options", options=options).option_values == ["a", 2]
    assert _prop(type="multiOptions", options=options).option_values == ["a", 2]
    assert _prop(type="fixedCollection", options=options).option_values is None
    assert _prop(type="options").option_values is None


@pytest.mark.parametrize(
    "bad",
    [
        {"displayName": "No name"},
        {"name": 3, "displayName": "Numeric name"},
        "not an object",
    ],
)
def test_a_definition_without_a_string_name_is_a_plugin_error(bad: Any) -> None:
    with pytest.raises(PluginError, match="string 'name'"):
        CredentialType.from_n8n(bad)


def test_a_malformed_definition_is_a_plugin_error_naming_the_type() -> None:
    with pytest.raises(PluginError, match=r"'brokenApi'.*malformed"):
        CredentialType.from_n8n({"name": "brokenApi", "displayName": "Broken", "properties": ["not a prop"]})
    with pytest.raises(PluginError, match="'noDisplay'"):
        CredentialType.from_n8n({"name": "noDisplay", "properties": []})
