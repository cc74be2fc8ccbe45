"""``effective_data`` rules of n8n 2.41's ``applyDefaultsAndOverwrites`` that the first differential test missed.

The held-out finding (``databricksOAuth2Api``, ``microsoftDataverseOAuth2Api``: n8n keeps ``clientId``,
``clientSecret``... where FluxNex dropped them) comes from n8n pinning ``useDynamicClientRegistration`` and
``usePkce``: a stored value of these hidden fields is ignored, so a stored ``useDynamicClientRegistration: true``
cannot hide the client fields. ``tests/test_n8n_credentials_engine.py`` checks the same against n8n's own code.
"""

from __future__ import annotations

from typing import Any

import pytest
from fluxnex.contract.plugins import TypeRegistry, _new_plugin_manager
from fluxnex.contract.schema import CredentialType
from fluxnex.n8n import register_catalog
from fluxnex.n8n.authenticate import PINNED_OAUTH_FIELDS, effective_data
from fluxnex.testing.n8n_catalog import catalog_path


@pytest.fixture(scope="module")
def registry() -> TypeRegistry:
    reg = TypeRegistry(_new_plugin_manager())
    register_catalog(reg, catalog_path())
    return reg


CLIENT = {"clientId": "id-1", "clientSecret": "s3cret", "host": "https://adb-1.azuredatabricks.net",
          "environmentUrl": "https://org.crm.dynamics.com", "tenantId": "contoso.onmicrosoft.com"}


@pytest.mark.parametrize("name", ["databricksOAuth2Api", "microsoftDataverseOAuth2Api"])
@pytest.mark.parametrize("grant", ["authorizationCode", "clientCredentials"])
def test_a_stored_dynamic_registration_flag_does_not_hide_the_client(registry: TypeRegistry, name: str,
                                                                      grant: str) -> None:
    ct = registry.get(name)
    data = {k: v for k, v in CLIENT.items() if ct.get_property(k) is not None}
    stored = {**data, "grantType": grant, "useDynamicClientRegistration": True, "usePkce": False}
    effective = effective_data(ct, stored, oauth=True)
    assert effective["clientId"] == "id-1" and effective["clientSecret"] == "s3cret"
    assert effective["useDynamicClientRegistration"] is False  # the type's value, not the stored one
    assert effective["clientCredentialType"] == "clientSecret"
    assert effective["grantType"] == grant  # a visible options field: the stored choice stands
    if name == "databricksOAuth2Api":
        assert effective["usePkce"] is True and effective["privateKey"] == "" and effective["certificate"] == ""
    assert effective_data(ct, {**data, "grantType": grant}, oauth=True) == effective


def test_pinned_fields_are_n8n_2_41s() -> None:
    assert set(PINNED_OAUTH_FIELDS) == {"useDynamicClientRegistration", "authUrl", "accessTokenUrl", "grantType",
                                        "authentication", "usePkce", "requestTokenUrl", "signatureMethod"}


def _dcr_type() -> CredentialType:
    # a community-style type whose flag is a visible boolean: n8n then copies the registration's fields back
    return CredentialType.from_n8n({"name": "dcrApi", "displayName": "DCR", "properties": [
        {"displayName": "DCR", "name": "useDynamicClientRegistration", "type": "boolean", "default": False},
        {"displayName": "Client ID", "name": "clientId", "type": "string", "default": "",
         "displayOptions": {"show": {"useDynamicClientRegistration": [False]}}},
        {"displayName": "Token URL", "name": "accessTokenUrl", "type": "string", "default": "",
         "displayOptions": {"show": {"useDynamicClientRegistration": [False]}}},
    ]})


def test_dynamic_registration_fields_are_copied_from_the_stored_data_while_the_flag_is_on() -> None:
    ct = _dcr_type()
    on: dict[str, Any] = {"useDynamicClientRegistration": True, "clientId": "registered", "usePkce": True}
    assert effective_data(ct, on, oauth=False) == {"useDynamicClientRegistration": True, "clientId": "registered",
                                                   "usePkce": True}
    off = {**on, "useDynamicClientRegistration": False}
    assert effective_data(ct, off, oauth=False) == {"useDynamicClientRegistration": False, "clientId": "registered",
                                                    "accessTokenUrl": ""}


def test_json_leaf_fields_resolve_expressions_inside_the_json(registry: TypeRegistry) -> None:
    ct = registry.get("httpTemplatedCustomAuth")
    values = '{"api_key": "={{ $self.docsUrl }}/k", "plain": "v"}'
    effective = effective_data(ct, {"template": "{}", "placeholderValues": values, "docsUrl": "https://d"},
                               oauth=False)
    assert effective["placeholderValues"] == '{"api_key":"https://d/k","plain":"v"}'
    assert effective["template"] == "{}"  # only fields marked resolveCredentialJsonLeaves are parsed
    broken = effective_data(ct, {"template": "{}", "placeholderValues": "{not json"}, oauth=False)
    assert broken["placeholderValues"] == "{not json"
