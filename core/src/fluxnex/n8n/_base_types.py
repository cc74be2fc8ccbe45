"""n8n's base and generic credential types, shipped by core's built-in plugin.

These equal the definitions of the same names in n8n's published catalog (a test checks it), so
loading that catalog next to core is not a conflict.
"""

from __future__ import annotations

from typing import Any, Final

#: n8n JSON of each built-in type, by name.
BASE_TYPES: Final[dict[str, dict[str, Any]]] = {
    "oAuth2Api": {
        "name": "oAuth2Api",
        "displayName": "OAuth2 API",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "properties": [
            {
                "displayName": "Use Dynamic Client Registration",
                "name": "useDynamicClientRegistration",
                "type": "hidden",
                "default": False,
            },
            {
                "displayName": "Grant Type",
                "name": "grantType",
                "type": "options",
                "displayOptions": {"show": {"useDynamicClientRegistration": [False]}},
                "options": [
                    {"name": "Authorization Code", "value": "authorizationCode"},
                    {"name": "Client Credentials", "value": "clientCredentials"},
                    {"name": "PKCE", "value": "pkce"},
                ],
                "default": "authorizationCode",
            },
            {
                "displayName": "Server URL",
                "name": "serverUrl",
                "type": "string",
                "displayOptions": {"show": {"useDynamicClientRegistration": [True]}},
                "default": "",
                "required": True,
            },
            {
                "displayName": "Authorization URL",
                "name": "authUrl",
                "type": "string",
                "displayOptions": {
                    "show": {
                        "grantType": ["authorizationCode", "pkce"],
                        "useDynamicClientRegistration": [False],
                    }
                },
                "default": "",
                "required": True,
            },
            {
                "displayName": "Access Token URL",
                "name": "accessTokenUrl",
                "type": "string",
                "displayOptions": {"show": {"useDynamicClientRegistration": [False]}},
                "default": "",
                "required": True,
            },
            {
                "displayName": "Client ID",
                "name": "clientId",
                "type": "string",
                "displayOptions": {"show": {"useDynamicClientRegistration": [False]}},
                "default": "",
                "required": True,
            },
            {
                "displayName": "Authentication",
                "name": "clientCredentialType",
                "type": "hidden",
                "default": "clientSecret",
            },
            {
                "displayName": "Client Secret",
                "name": "clientSecret",
                "type": "string",
                "displayOptions": {"show": {"useDynamicClientRegistration": [False]}},
                "typeOptions": {"password": True},
                "default": "",
                "required": True,
            },
            {"displayName": "Private Key", "name": "privateKey", "type": "hidden", "default": ""},
            {"displayName": "Certificate", "name": "certificate", "type": "hidden", "default": ""},
            {
                "displayName": "Scope",
                "name": "scope",
                "type": "string",
                "displayOptions": {"show": {"useDynamicClientRegistration": [False]}},
                "default": "",
            },
            {
                "displayName": "Auth URI Query Parameters",
                "name": "authQueryParameters",
                "type": "string",
                "displayOptions": {
                    "show": {
                        "grantType": ["authorizationCode", "pkce"],
                        "useDynamicClientRegistration": [False],
                    }
                },
                "default": "",
                "description": "For some services additional query parameters have to be "
                "set which can be defined here",
                "placeholder": "access_type=offline",
            },
            {
                "displayName": "Authentication",
                "name": "authentication",
                "type": "options",
                "displayOptions": {"show": {"useDynamicClientRegistration": [False]}},
                "options": [
                    {"name": "Body", "value": "body", "description": "Send credentials in body"},
                    {
                        "name": "Header",
                        "value": "header",
                        "description": "Send credentials as Basic Auth header",
                    },
                ],
                "default": "header",
            },
            {
                "displayName": "Send Additional Body Properties",
                "name": "sendAdditionalBodyProperties",
                "type": "boolean",
                "default": False,
                "displayOptions": {
                    "show": {
                        "grantType": ["clientCredentials"],
                        "authentication": ["body"],
                        "useDynamicClientRegistration": [False],
                    }
                },
            },
            {
                "displayName": "Additional Body Properties",
                "name": "additionalBodyProperties",
                "type": "json",
                "typeOptions": {"rows": 5},
                "displayOptions": {
                    "show": {
                        "grantType": ["clientCredentials"],
                        "authentication": ["body"],
                        "sendAdditionalBodyProperties": [True],
                        "useDynamicClientRegistration": [False],
                    }
                },
                "default": "",
            },
            {
                "displayName": "Ignore SSL Issues (Insecure)",
                "name": "ignoreSSLIssues",
                "type": "boolean",
                "default": False,
                "doNotInherit": True,
            },
            {
                "displayName": "Token Expired Status Code",
                "name": "tokenExpiredStatusCode",
                "type": "number",
                "default": 401,
                "description": "HTTP status code that indicates the token has expired. "
                "Some APIs return 403 instead of 401.",
                "doNotInherit": True,
            },
            {
                "displayName": "Encrypted Tokens (JWE)",
                "name": "jweEnabled",
                "type": "boolean",
                "default": False,
                "description": "Whether the IdP returns tokens encrypted as JWE to the "
                "public key at this instance’s JWKS endpoint. The "
                "response must contain at least one JWE-encrypted token "
                "(access or ID token); fully plaintext responses are "
                "rejected.",
                "envFeatureFlag": "OAUTH2_JWE",
                "doNotInherit": True,
            },
            {
                "displayName": "JWKS URI",
                "name": "jwksUri",
                "type": "string",
                "typeOptions": {"copyButton": True},
                "default": "",
                "description": "Provide this URL to your IdP so it can fetch the public "
                "key used to encrypt access and ID tokens for this "
                "instance.",
                "displayOptions": {"show": {"jweEnabled": [True]}},
                "doNotInherit": True,
            },
            {
                "displayName": "Inline JWKS in Client Registration",
                "name": "inlineJwks",
                "type": "boolean",
                "default": False,
                "description": "Whether to send the public keys directly in the dynamic "
                "client registration payload instead of advertising a "
                "JWKS URI. Enable this when the IdP cannot reach this "
                "instance (e.g. when self-hosted behind a firewall).",
                "displayOptions": {"show": {"jweEnabled": [True], "useDynamicClientRegistration": [True]}},
                "doNotInherit": True,
            },
        ],
        "supportedNodes": ["graphql", "httpRequest"],
        "iconUrl": "icons/n8n-nodes-base/dist/nodes/GraphQL/graphql.png",
    },
    "oAuth1Api": {
        "name": "oAuth1Api",
        "displayName": "OAuth1 API",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "properties": [
            {
                "displayName": "Authorization URL",
                "name": "authUrl",
                "type": "string",
                "default": "",
                "required": True,
            },
            {
                "displayName": "Access Token URL",
                "name": "accessTokenUrl",
                "type": "string",
                "default": "",
                "required": True,
            },
            {
                "displayName": "Consumer Key",
                "name": "consumerKey",
                "type": "string",
                "typeOptions": {"password": True},
                "default": "",
                "required": True,
            },
            {
                "displayName": "Consumer Secret",
                "name": "consumerSecret",
                "type": "string",
                "typeOptions": {"password": True},
                "default": "",
                "required": True,
            },
            {
                "displayName": "Request Token URL",
                "name": "requestTokenUrl",
                "type": "string",
                "default": "",
                "required": True,
            },
            {
                "displayName": "Signature Method",
                "name": "signatureMethod",
                "type": "options",
                "options": [
                    {"name": "HMAC-SHA1", "value": "HMAC-SHA1"},
                    {"name": "HMAC-SHA256", "value": "HMAC-SHA256"},
                    {"name": "HMAC-SHA512", "value": "HMAC-SHA512"},
                ],
                "default": "HMAC-SHA1",
                "required": True,
            },
        ],
        "supportedNodes": ["graphql", "httpRequest"],
        "iconUrl": "icons/n8n-nodes-base/dist/nodes/GraphQL/graphql.png",
    },
    "httpHeaderAuth": {
        "name": "httpHeaderAuth",
        "displayName": "Header Auth",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "icon": "node:n8n-nodes-base.httpRequest",
        "properties": [
            {"displayName": "Name", "name": "name", "type": "string", "default": ""},
            {
                "displayName": "Value",
                "name": "value",
                "type": "string",
                "typeOptions": {"password": True},
                "default": "",
            },
            {
                "displayName": 'To send multiple headers, use a "Custom Auth" credential instead',
                "name": "useCustomAuth",
                "type": "notice",
                "default": "",
            },
        ],
        "authenticate": {
            "type": "generic",
            "properties": {"headers": {"={{$credentials.name}}": "={{$credentials.value}}"}},
        },
        "supportedNodes": ["graphql", "httpRequest", "wait", "webhook"],
    },
    "httpBasicAuth": {
        "name": "httpBasicAuth",
        "displayName": "Basic Auth",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "icon": "node:n8n-nodes-base.httpRequest",
        "properties": [
            {"displayName": "User", "name": "user", "type": "string", "default": "", "resolvableField": True},
            {
                "displayName": "Password",
                "name": "password",
                "type": "string",
                "typeOptions": {"password": True},
                "default": "",
                "resolvableField": True,
            },
        ],
        "supportedNodes": ["formTrigger", "graphql", "httpRequest", "pipedriveTrigger", "wait", "webhook"],
    },
    "httpQueryAuth": {
        "name": "httpQueryAuth",
        "displayName": "Query Auth",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "icon": "node:n8n-nodes-base.httpRequest",
        "properties": [
            {"displayName": "Name", "name": "name", "type": "string", "default": ""},
            {
                "displayName": "Value",
                "name": "value",
                "type": "string",
                "typeOptions": {"password": True},
                "default": "",
            },
        ],
        "supportedNodes": ["graphql", "httpRequest", "jiraTrigger", "jiraTrigger"],
    },
    "httpBearerAuth": {
        "name": "httpBearerAuth",
        "displayName": "Bearer Auth",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "icon": "node:n8n-nodes-base.httpRequest",
        "properties": [
            {
                "displayName": "Bearer Token",
                "name": "token",
                "type": "string",
                "typeOptions": {"password": True},
                "default": "",
                "resolvableField": True,
            },
            {
                "displayName": 'This credential uses the "Authorization" header. To use '
                'a custom header, use a "Header Auth" credential instead',
                "name": "useCustomAuth",
                "type": "notice",
                "default": "",
            },
        ],
        "authenticate": {
            "type": "generic",
            "properties": {"headers": {"Authorization": "=Bearer {{$credentials.token}}"}},
        },
        "supportedNodes": [],
    },
    "httpCustomAuth": {
        "name": "httpCustomAuth",
        "displayName": "Custom Auth",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "icon": "node:n8n-nodes-base.httpRequest",
        "properties": [
            {
                "displayName": "JSON",
                "name": "json",
                "type": "json",
                "required": True,
                "description": "Use json to specify authentication values for headers, body and qs.",
                "placeholder": '{ "headers": { "key" : "value" }, "body": { "key": '
                '"value" }, "qs": { "key": "value" } }',
                "default": "",
                "typeOptions": {"redactJsonLeaves": True},
            }
        ],
        "supportedNodes": ["graphql"],
    },
    "httpDigestAuth": {
        "name": "httpDigestAuth",
        "displayName": "Digest Auth",
        "documentationUrl": "httprequest",
        "genericAuth": True,
        "icon": "node:n8n-nodes-base.httpRequest",
        "properties": [
            {"displayName": "User", "name": "user", "type": "string", "default": "", "resolvableField": True},
            {
                "displayName": "Password",
                "name": "password",
                "type": "string",
                "typeOptions": {"password": True},
                "default": "",
                "resolvableField": True,
            },
        ],
        "supportedNodes": ["graphql", "httpRequest"],
    },
}
