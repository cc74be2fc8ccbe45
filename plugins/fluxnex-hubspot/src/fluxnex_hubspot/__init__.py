"""HubSpot credential types for FluxNex."""

from __future__ import annotations

from typing import Any

from fluxnex import CredentialType, Property, hookimpl

__all__ = ["HubspotOAuth2Api"]

AUTHORIZATION_URL = "https://app.hubspot.com/oauth/authorize"
TOKEN_URL = "https://api.hubapi.com/oauth/v1/token"
#: The scopes n8n's HubSpot OAuth2 definition asks for by default.
DEFAULT_SCOPES = (
    "crm.lists.write crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read "
    "crm.objects.companies.write crm.objects.deals.read crm.objects.deals.write crm.objects.owners.read "
    "crm.schemas.companies.read crm.schemas.contacts.read crm.schemas.deals.read forms tickets"
)


class HubspotOAuth2Api(CredentialType):
    """HubSpot through OAuth2; HubSpot wants the client id and secret in the form body."""

    name = "hubspotOAuth2Api"
    display_name = "HubSpot OAuth2 API"
    extends = ["oAuth2Api"]
    documentation_url = "https://developers.hubspot.com/docs/api/oauth-quickstart-guide"
    properties = [
        Property(display_name="Grant Type", name="grantType", type="hidden", default="authorizationCode"),
        Property(display_name="Authorization URL", name="authUrl", type="hidden", default=AUTHORIZATION_URL,
                 required=True),
        Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden", default=TOKEN_URL,
                 required=True),
        Property(display_name="Scope", name="scope", type="hidden", default=DEFAULT_SCOPES),
        Property(display_name="Auth URI Query Parameters", name="authQueryParameters", type="hidden",
                 default="grant_type=authorization_code"),
        Property(display_name="Authentication", name="authentication", type="hidden", default="body"),
    ]


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register HubSpot's credential types."""
    register(HubspotOAuth2Api)
