"""Intuit QuickBooks Online credential types for FluxNex."""

from __future__ import annotations

from typing import Any

from fluxnex import CredentialType, Property, hookimpl

__all__ = ["QuickBooksOAuth2Api"]

AUTHORIZATION_URL = "https://appcenter.intuit.com/connect/oauth2"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
SCOPE = "com.intuit.quickbooks.accounting"


class QuickBooksOAuth2Api(CredentialType):
    """QuickBooks Online through OAuth2 (authorization code); Intuit authenticates clients with HTTP Basic."""

    name = "quickBooksOAuth2Api"
    display_name = "QuickBooks Online OAuth2 API"
    extends = ["oAuth2Api"]
    documentation_url = "https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization"
    properties = [
        Property(display_name="Grant Type", name="grantType", type="hidden", default="authorizationCode"),
        Property(display_name="Authorization URL", name="authUrl", type="hidden", default=AUTHORIZATION_URL),
        Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden", default=TOKEN_URL),
        Property(display_name="Scope", name="scope", type="hidden", default=SCOPE),
        Property(display_name="Auth URI Query Parameters", name="authQueryParameters", type="hidden", default=""),
        Property(display_name="Authentication", name="authentication", type="hidden", default="header"),
        Property(
            display_name="Environment",
            name="environment",
            type="options",
            default="production",
            options=[{"name": "Production", "value": "production"}, {"name": "Sandbox", "value": "sandbox"}],
        ),
    ]


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register QuickBooks' credential types."""
    register(QuickBooksOAuth2Api)
