"""Generic ``authenticate`` blocks and test requests of the whole n8n catalog, against expectations derived here.

The simple forms (``=text{{$credentials.x}}text`` and plain values) are checked by a small reference evaluation
written for this test; the other forms (ternaries, ``||``, method calls, expression keys) by hand-written cases.
``tests/test_n8n_credentials_engine.py`` checks the same against n8n's own engine.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from fluxnex.contract.plugins import PluginInfo, TypeRegistry, _load_plugin, _new_plugin_manager
from fluxnex.contract.schema import CredentialType
from fluxnex.lifecycle import builtin
from fluxnex.n8n import load_catalog, register_catalog
from fluxnex.n8n.authenticate import effective_data, merge_into_request, resolve_authenticate, resolve_test_request
from fluxnex.testing.n8n_catalog import catalog_path

SIMPLE = re.compile(r"^=([^{}]*)\{\{\s*\$credentials(?:\.(\w+)|\[[\"'](\w+)[\"']\])\s*\}\}([^{}]*)$")


@pytest.fixture(scope="module")
def registry() -> TypeRegistry:
    reg = TypeRegistry(_new_plugin_manager())
    _load_plugin(reg, builtin, PluginInfo("builtin", "fluxnex-core", "0"))
    register_catalog(reg, catalog_path())
    return reg


def _sample(ct: CredentialType, variant: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for p in ct.properties:
        if p.type in ("hidden", "notice", "fixedCollection", "collection"):
            continue
        options = p.option_values or []
        if p.type == "boolean":
            data[p.name] = variant == 0
        elif p.type == "options" and options:
            data[p.name] = options[0]
        elif p.type == "number":
            data[p.name] = 7 if variant == 0 else 0
        elif p.type == "multiOptions":
            data[p.name] = options[:1]
        elif p.type != "json":
            data[p.name] = f"{p.name}-v{variant}" if variant == 0 else ""
    return data


def _js(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _expected_auth(template: Any, creds: dict[str, Any]) -> Any:
    """n8n's resolveValue for the simple forms; ``NotImplemented`` for forms left to the hand-written cases."""
    if not isinstance(template, str) or not template.startswith("="):
        return template
    m = SIMPLE.match(template)
    if m is None:
        return NotImplemented
    prefix, name, suffix = m.group(1), m.group(2) or m.group(3), m.group(4)
    value = creds.get(name)
    if not prefix and not suffix:
        return _js(value) if value not in (None, "", 0, False) else ""
    return prefix + _js(value) + suffix  # a template with text is never falsy here


def _expected_request_value(template: Any, creds: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        return {k: _expected_request_value(v, creds) for k, v in template.items()}
    if isinstance(template, list):
        return [_expected_request_value(v, creds) for v in template]
    if not isinstance(template, str) or not template.startswith("="):
        return template
    m = SIMPLE.match(template)
    if m is None:
        return NotImplemented
    prefix, name, suffix = m.group(1), m.group(2) or m.group(3), m.group(4)
    if not prefix and not suffix:
        return creds.get(name)  # one block keeps its JavaScript type
    return prefix + _js(creds.get(name)) + suffix


def _contains_not_implemented(value: Any) -> bool:
    if value is NotImplemented:
        return True
    if isinstance(value, dict):
        return any(_contains_not_implemented(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_not_implemented(v) for v in value)
    return False


def test_all_catalog_types_load_and_every_extends_resolves(registry: TypeRegistry) -> None:
    catalog = load_catalog(catalog_path())
    raw = json.loads(catalog_path().read_text())
    assert len(catalog) == len(raw) == 409
    assert sum(1 for t in raw if t.get("extends")) == 114
    for name in catalog:
        resolved = registry.get(name)
        names = {p.name for p in resolved.properties}
        for parent in catalog[name].extends or []:
            assert {p.name for p in registry.get(parent).properties if not p.do_not_inherit} <= names
    assert registry.failures == []


def test_every_generic_block_matches_the_reference(registry: TypeRegistry) -> None:
    checked = skipped = blocks = 0
    for name in registry.names():
        ct = registry.get(name)
        if (ct.authenticate or {}).get("type") != "generic":
            continue
        blocks += 1
        for variant in (0, 1):
            creds = effective_data(ct, _sample(ct, variant))
            resolved = resolve_authenticate(ct, creds)
            for outer, inner in ct.authenticate["properties"].items():  # type: ignore[index]
                for key, value in inner.items():
                    want_key, want_value = _expected_auth(key, creds), _expected_auth(value, creds)
                    if want_key is NotImplemented or want_value is NotImplemented:
                        skipped += 1
                        continue
                    assert resolved[outer][want_key] == want_value, (name, outer, key)
                    assert type(resolved[outer][want_key]) is type(want_value)
                    checked += 1
    assert blocks == 142
    print(f"authenticate entries: {checked} checked by the reference, {skipped} left to the other tests")
    assert checked >= 0.9 * (checked + skipped), (checked, skipped)


def test_every_test_request_matches_the_reference(registry: TypeRegistry) -> None:
    checked = skipped = requests_seen = 0
    for name in registry.names():
        ct = registry.get(name)
        request = (ct.test or {}).get("request")
        if not request:
            continue
        requests_seen += 1
        for variant in (0, 1):
            creds = effective_data(ct, _sample(ct, variant), oauth=registry.is_a(name, "oAuth2Api"))
            resolved = resolve_test_request(ct, creds)
            assert resolved is not None
            for key, template in request.items():
                want = _expected_request_value(template, creds)
                if _contains_not_implemented(want):
                    skipped += 1
                    continue
                assert resolved.get(key) == want, (name, key)
                checked += 1
    assert requests_seen == 157
    print(f"test request fields: {checked} checked by the reference, {skipped} left to the other tests")
    assert checked >= 0.85 * (checked + skipped), (checked, skipped)


@pytest.mark.parametrize(("type_name", "data", "outer", "expected"), [
    ("twilioApi", {"authType": "apiKey", "apiKeySid": "SK1", "apiKeySecret": "sec", "accountSid": "AC"},
     "auth", {"username": "SK1", "password": "sec"}),
    ("twilioApi", {"authType": "authToken", "accountSid": "AC9", "authToken": "tok"},
     "auth", {"username": "AC9", "password": "tok"}),
    ("httpHeaderAuth", {"name": "X-Key", "value": "v1"}, "headers", {"X-Key": "v1"}),
    ("httpHeaderAuth", {"name": "X-Key", "value": ""}, "headers", {"X-Key": ""}),
    ("kibanaApi", {"url": "https://k", "username": "u", "password": "p"}, "headers", {"kbn-xsrf": True}),
    ("mailgunApi", {"apiDomain": "api.mailgun.net", "emailDomain": "d", "apiKey": "k"},
     "auth", {"username": "api", "password": "k"}),
    ("freshdeskApi", {"apiKey": "fk", "domain": "d"}, "auth", {"username": "fk", "password": "X"}),
])
def test_tricky_authenticate_blocks(registry: TypeRegistry, type_name: str, data: dict[str, Any], outer: str,
                                    expected: dict[str, Any]) -> None:
    ct = registry.get(type_name)
    assert resolve_authenticate(ct, effective_data(ct, data))[outer] == expected


def test_resolve_value_turns_falsy_results_into_empty_strings_and_others_into_js_strings() -> None:
    ct = CredentialType.from_n8n({"name": "t", "displayName": "T", "properties": [], "authenticate": {
        "type": "generic", "properties": {"headers": {
            "A": "={{$credentials.zero}}", "B": "={{$credentials.no}}", "C": "={{$credentials.n}}",
            "D": "={{$credentials.list}}", "E": "={{$credentials.missing}}", "F": "={{$credentials.obj}}",
            "G": "={{$credentials.f}}", "H": "=x{{$credentials.no}}", "I": False}}}})
    creds = {"zero": 0, "no": False, "n": 7, "list": ["a", 1, None], "obj": {"k": 1}, "f": 1.5}
    assert resolve_authenticate(ct, creds)["headers"] == {
        "A": "", "B": "", "C": "7", "D": "a,1,", "E": "", "F": "[object Object]", "G": "1.5", "H": "xfalse",
        "I": False}


def test_tricky_test_requests(registry: TypeRegistry) -> None:
    erp = registry.get("erpNextApi")
    cloud = resolve_test_request(erp, effective_data(erp, {"environment": "cloudHosted", "subdomain": "acme",
                                                           "domain": "erpnext.com", "apiKey": "k",
                                                           "apiSecret": "s", "allowUnauthorizedCerts": True}))
    assert cloud is not None and cloud["baseURL"] == "https://acme.erpnext.com"
    assert cloud["skipSslCertificateValidation"] is True  # a single block keeps the boolean
    strapi = registry.get("strapiTokenApi")
    assert resolve_test_request(strapi, effective_data(strapi, {"apiVersion": "v3", "url": "u"}))["url"] == (  # type: ignore[index]
        "/users/count")
    odoo = registry.get("odooApiKeyApi")
    headers = resolve_test_request(odoo, effective_data(odoo, {"url": "https://mydb.odoo.com/", "apiKey": "k"}))
    assert headers is not None and headers["headers"]["X-Odoo-Database"] == "mydb"
    assert headers["body"] == {"domain": [], "fields": ["id"], "limit": 1}
    airtop = registry.get("airtopApi")
    assert resolve_test_request(airtop, {"apiKey": "k"})["qs"] == {"limit": 10}  # type: ignore[index]


def test_effective_data_fills_defaults_drops_hidden_and_resolves_self(registry: TypeRegistry) -> None:
    azure = registry.get("azureStorageSharedKeyApi")
    data = effective_data(azure, {"account": "acct", "key": "k", "environment": "custom",
                                  "customEndpoint": "https://my.endpoint", "unknown": 1})
    assert data["baseUrl"] == "https://my.endpoint" and "unknown" not in data
    github = registry.get("githubOAuth2Api")
    data = effective_data(github, {"server": "https://ghe.acme.io/api/v3", "authUrl": "https://evil.example"})
    assert data["authUrl"] == "https://ghe.acme.io/login/oauth/authorize"  # a stored hidden endpoint is ignored
    assert data["oauthTokenData"] == {}


def _prepared(url: str, **kwargs: Any) -> requests.PreparedRequest:
    return requests.Request(url=url, **kwargs).prepare()


def test_merge_into_request_per_key_with_the_credentials_winning() -> None:
    request = _prepared("https://a.io/x?api_key=old&keep=1", method="POST", json={"a": 1, "token": "old"},
                        headers={"X-Key": "old", "Other": "o"})
    merged = merge_into_request(request, {"headers": {"X-Key": "new", "kbn-xsrf": True},
                                          "qs": {"api_key": "k 1"}, "body": {"token": "t"}})
    assert merged.headers["X-Key"] == "new" and merged.headers["Other"] == "o"
    assert merged.headers["kbn-xsrf"] == "true"
    assert merged.url == "https://a.io/x?keep=1&api_key=k+1"
    assert json.loads(merged.body or b"") == {"a": 1, "token": "t"}
    form = merge_into_request(_prepared("https://a.io/", method="POST", data={"x": "1", "token": "old"}),
                              {"body": {"token": "t"}, "auth": {"username": "u", "password": ""}})
    assert form.body == "x=1&token=t"
    assert form.headers["Authorization"] == "Basic dTo="
