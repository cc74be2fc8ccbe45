"""Types whose code exchanges the credentials for an access token before the request: ``googleApi`` (service
account JWT bearer grant, when used from the HTTP node) and ``ciscoSecureEndpointApi`` (SecureX client
credentials, then a Secure Endpoint token).

The token POSTs are described as :class:`TokenRequest` values and sent by ``Context.fetch_token``, which the
lifecycle layer provides (it caches the answer and shares it across threads and processes); this module only
decides what is asked and where the answer goes, as n8n's code does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth._context import AuthFunction, Context, TokenRequest, cache_key, fetch_token_field
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, form_encode, get, spread, text, truthy
from fluxnex.n8n.code_auth._jws import sign_rs256

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
_SCOPE_SPLIT = re.compile(r"[,\s\n]+")
_FORM = "application/x-www-form-urlencoded"


def google_assertion(c: Mapping[str, Any], now: float) -> str:
    """The signed service-account assertion n8n sends (iat now, one hour, scopes space-separated)."""
    key, scopes, email = get(c, "privateKey"), get(c, "scopes"), get(c, "email")
    if not isinstance(key, str) or not isinstance(scopes, str) or not isinstance(email, str):
        raise CodeAuthError("googleApi: the service account email, private key and scopes are needed")
    email = email.strip()
    delegated = get(c, "delegatedEmail")
    issued = int(now)
    claims = {
        "iss": email,
        "sub": delegated if truthy(delegated) else email,
        "scope": " ".join(s for s in _SCOPE_SPLIT.split(scopes.replace("\\n", "\n").strip()) if s),
        "aud": GOOGLE_TOKEN_URL,
        "iat": issued,
        "exp": issued + 3600,
    }
    return sign_rs256({"alg": "RS256", "typ": "JWT"}, claims, key.replace("\\n", "\n").strip())


def google_api(c: Mapping[str, Any], o: Options, ctx: Context) -> Options:
    """From the HTTP node (``httpNode``): a Bearer token from the JWT bearer grant; otherwise nothing."""
    if not truthy(get(c, "httpNode")):
        return o
    body = form_encode([("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                        ("assertion", google_assertion(c, ctx.now))])
    identity = cache_key("googleApi", get(c, "email"), get(c, "delegatedEmail"), get(c, "scopes"), get(c, "privateKey"))
    token = fetch_token_field(ctx, TokenRequest(url=GOOGLE_TOKEN_URL, body=body, headers={"Content-Type": _FORM},
                                     purpose="googleApi", cache_key=identity))
    o = copy(o)
    o["headers"] = {**spread(o.get("headers")), "Authorization": f"Bearer {token}"}
    return o


def cisco_secure_endpoint(c: Mapping[str, Any], o: Options, ctx: Context) -> Options:
    """A SecureX token (client credentials, basic auth), exchanged for a Secure Endpoint token, as a Bearer."""
    region = text(get(c, "region"))
    body = form_encode([("grant_type", "client_credentials")])
    securex = fetch_token_field(ctx, TokenRequest(
        url=f"https://visibility.{region}.cisco.com/iroh/oauth2/token", body=body,
        headers={"Content-Type": _FORM, "Accept": "application/json"},
        auth=(text(get(c, "clientId")), text(get(c, "clientSecret"))), purpose="ciscoSecureEndpointApi",
        cache_key=cache_key("securex", region, get(c, "clientId"), get(c, "clientSecret"))))
    endpoint = fetch_token_field(ctx, TokenRequest(
        url=f"https://api.{region}.cisco.com/v3/access_tokens", body=body,
        headers={"Content-Type": _FORM, "Accept": "application/json", "Authorization": f"Bearer {securex}"},
        purpose="ciscoSecureEndpointApi", cache_key=cache_key("secure-endpoint", region, securex)))
    o = copy(o)
    o["headers"] = {**spread(o.get("headers")), "Authorization": f"Bearer {endpoint}"}
    return o


IMPLEMENTATIONS: dict[str, AuthFunction] = {
    "googleApi": google_api,
    "ciscoSecureEndpointApi": cisco_secure_endpoint,
}
