"""Revenova TMS credential types for FluxNex (Revenova runs on Salesforce)."""

from __future__ import annotations

from typing import Any

from fluxnex import CredentialType, Property, hookimpl

__all__ = ["RevenovaApi"]


class RevenovaApi(CredentialType):
    """A Salesforce access token for a Revenova TMS org; requests go to ``instanceUrl`` with a Bearer token."""

    name = "revenovaApi"
    display_name = "Revenova TMS API"
    properties = [
        Property(
            display_name="Salesforce Instance URL",
            name="instanceUrl",
            type="string",
            default="https://login.salesforce.com",
        ),
        Property(display_name="Access Token", name="accessToken", type="password"),
    ]


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register Revenova's credential types."""
    register(RevenovaApi)
