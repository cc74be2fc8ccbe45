"""Each type's ``preAuthentication`` from ``n8n-nodes-base`` 2.41.2, read from its class and written as data.

A builder takes the effective data (defaults applied, as n8n's ``getDecrypted`` returns it) and ``now`` (epoch
seconds) and returns the :class:`TokenRequest`; a parser takes the answer and returns the fields to store and the
token's lifetime when the answer tells it. URLs are built as the JavaScript template strings build them
(``String(undefined)`` included).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from fluxnex.n8n.preauth._jwt import client_assertion, sign_rs256
from fluxnex.n8n.preauth._model import PreAuthError, Spec, TokenRequest, TokenResponse, jwt_exp, lifetime_from

__all__ = ["SPECS"]

_JSON: Final = {"Content-Type": "application/json"}
_FORM: Final = {"Content-Type": "application/x-www-form-urlencoded"}


def _s(value: Any) -> str:
    """JavaScript ``String(value)`` for the values a credential holds."""
    from fluxnex.n8n.authenticate import js_string

    return "undefined" if value is None else js_string(value)


def _strip_one_slash(url: Any) -> str:
    text = _s(url)
    return text[:-1] if text.endswith("/") else text


def _trimmed(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _token(field: str, key: str = "access_token") -> Any:
    def parse(response: TokenResponse, now: float) -> tuple[dict[str, Any], float | None]:
        return {field: response.field(key)}, lifetime_from(response, now)

    return parse


def _jwt_token(field: str, key: str) -> Any:
    def parse(response: TokenResponse, now: float) -> tuple[dict[str, Any], float | None]:
        token = response.field(key)
        return {field: token}, jwt_exp(token, now)

    return parse


# -- username/password logins ---------------------------------------------------------------------------


def _metabase(d: Mapping[str, Any], now: float) -> TokenRequest:
    return TokenRequest("POST", f"{_strip_one_slash(d.get('url'))}/api/session", dict(_JSON),
                        json={"username": d.get("username"), "password": d.get("password")})


def _formio(d: Mapping[str, Any], now: float) -> TokenRequest:
    base = d.get("domain") or "https://formio.form.io"
    return TokenRequest("POST", f"{_s(base)}/user/login", dict(_JSON),
                        json={"data": {"email": d.get("email"), "password": d.get("password")}})


def _formio_parse(response: TokenResponse, now: float) -> tuple[dict[str, Any], float | None]:
    token = response.header("x-jwt-token")
    return {"token": token}, jwt_exp(token, now)


def _baserow(d: Mapping[str, Any], now: float) -> TokenRequest:
    host = re.sub(r"/$", "", _s(d.get("host")))
    return TokenRequest("POST", f"{host}/api/user/token-auth/", dict(_JSON),
                        json={"username": d.get("username"), "password": d.get("password")})


def _wekan(d: Mapping[str, Any], now: float) -> TokenRequest:
    return TokenRequest("POST", f"{_strip_one_slash(d.get('url'))}/users/login", dict(_JSON),
                        json={"username": d.get("username"), "password": d.get("password")})


def _wekan_parse(response: TokenResponse, now: float) -> tuple[dict[str, Any], float | None]:
    expires = response.field("tokenExpires")
    lifetime = lifetime_from(TokenResponse(response.status, {}, {"expires_at": expires}), now) if expires else None
    return {"token": response.field("token")}, lifetime


def _zscaler_key(key: str, timestamp: str) -> str:
    """Zscaler's API key obfuscation, as n8n's ``obfuscate`` (``charAt`` past the end is '')."""
    high = timestamp[-6:]
    low = str(int(high) >> 1).rjust(6, "0")

    def at(i: int) -> str:
        return key[i] if 0 <= i < len(key) else ""

    return "".join(at(int(c)) for c in high) + "".join(at(int(c) + 2) for c in low)


def _zscaler(d: Mapping[str, Any], now: float) -> TokenRequest:
    url = _strip_one_slash(d.get("baseUrl"))
    stamp = str(int(now * 1000))
    return TokenRequest(
        "POST", f"https://{url}/api/v1/authenticatedSession",
        {"Content-Type": "application/json", "Cache-Control": "no-cache"},
        json={"apiKey": _zscaler_key(_s(d.get("apiKey")), stamp), "username": d.get("username"),
              "password": d.get("password"), "timestamp": stamp},
    )


def _zscaler_parse(response: TokenResponse, now: float) -> tuple[dict[str, Any], float | None]:
    entry = next((c for c in response.headers.get("set-cookie", []) if "JSESSIONID" in c), None)
    cookie = next((part for part in entry.split(";") if "JSESSIONID" in part), None) if entry else None
    if not cookie:
        raise PreAuthError("zscalerZiaApi: no cookie returned. Please check your credentials.", permanent=True)
    return {"cookie": cookie}, None


def _venafi(d: Mapping[str, Any], now: float) -> TokenRequest:
    return TokenRequest(
        "POST", f"{_s(d.get('domain'))}/vedauth/authorize/oauth", dict(_JSON),
        json={"client_id": d.get("clientId"), "username": d.get("username"), "password": d.get("password"),
              "scope": d.get("scope")},
        verify=not d.get("allowUnauthorizedCerts"),
    )


def _venafi_parse(response: TokenResponse, now: float) -> tuple[dict[str, Any], float | None]:
    lifetime = lifetime_from(response, now)
    expires = response.field("expires")  # Venafi's epoch second
    if lifetime is None and isinstance(expires, int | float) and not isinstance(expires, bool):
        lifetime = float(expires) - now
    return {"token": response.field("access_token")}, lifetime


# -- client credentials ---------------------------------------------------------------------------------


def _auth0(d: Mapping[str, Any], now: float) -> TokenRequest:
    domain = _s(d.get("domain"))
    return TokenRequest("POST", f"https://{domain}/oauth/token", dict(_JSON), json={
        "client_id": d.get("clientId"), "client_secret": d.get("clientSecret"),
        "audience": f"https://{domain}/api/v2/", "grant_type": "client_credentials"})


def _cisco(d: Mapping[str, Any], now: float) -> TokenRequest:
    return TokenRequest("POST", "https://api.umbrella.com/auth/v2/token?grant_type=client_credentials",
                        {"Content-Type": "x-www-form-urlencoded"}, basic=(_s(d.get("apiKey")), _s(d.get("secret"))))


def _crowdstrike(d: Mapping[str, Any], now: float) -> TokenRequest:
    return TokenRequest("POST", f"{_strip_one_slash(d.get('url'))}/oauth2/token", dict(_FORM),
                        form={"client_id": _s(d.get("clientId")), "client_secret": _s(d.get("clientSecret"))})


def _atlassian(d: Mapping[str, Any], now: float) -> TokenRequest:
    client_id, secret = _trimmed(d, "clientId"), _trimmed(d, "clientSecret")
    if not client_id or not secret:
        raise PreAuthError("Atlassian service account credentials are incomplete", permanent=True)
    return TokenRequest("POST", "https://auth.atlassian.com/oauth/token", dict(_FORM),
                        form={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})


_ENTRA_LOGIN: Final = {
    "https://graph.microsoft.com": "https://login.microsoftonline.com",
    "https://graph.microsoft.us": "https://login.microsoftonline.us",
    "https://dod-graph.microsoft.us": "https://login.microsoftonline.us",
    "https://microsoftgraph.chinacloudapi.cn": "https://login.partner.microsoftonline.cn",
}
_GUID: Final = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN: Final = re.compile(r"^[A-Za-z0-9.-]+$")


def _entra(d: Mapping[str, Any], now: float) -> TokenRequest:
    method = _trimmed(d, "authentication") or "clientSecret"
    tenant, client_id = _trimmed(d, "tenantId"), _trimmed(d, "clientId")
    key, cert, secret = _trimmed(d, "privateKey"), _trimmed(d, "certificate"), _trimmed(d, "clientSecret")
    has_secret = bool(key and cert) if method == "certificate" else bool(secret)
    if not tenant or not client_id or not has_secret:
        raise PreAuthError("Microsoft Entra credentials are incomplete", permanent=True)
    if not _GUID.match(tenant) and not _DOMAIN.match(tenant):
        raise PreAuthError("Microsoft Entra tenant ID is not a valid GUID or domain", permanent=True)
    base = re.sub(r"/+$", "", _trimmed(d, "graphApiBaseUrl"))
    if base and base not in _ENTRA_LOGIN:
        raise PreAuthError("Microsoft Entra Graph API base URL is not a recognized Microsoft cloud", permanent=True)
    token_url = f"{_ENTRA_LOGIN.get(base, 'https://login.microsoftonline.com')}/{tenant}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "scope": f"{base or 'https://graph.microsoft.com'}/.default"}
    if method == "certificate":
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = client_assertion(client_id=client_id, token_url=token_url, private_key=key,
                                                    certificate=cert, now=now)
    else:
        form["client_secret"] = secret
    return TokenRequest("POST", token_url, dict(_FORM), form=form)


# -- signed assertions ------------------------------------------------------------------------------------


def _github_app(d: Mapping[str, Any], now: float) -> TokenRequest:
    issued = int(now)
    server = d.get("server")
    base = re.sub(r"/$", "", _s("https://api.github.com" if server is None else server))
    app_jwt = sign_rs256({"iat": issued - 60, "exp": issued + 9 * 60, "iss": d.get("appId")}, d.get("privateKey"),
                         what="githubAppApi")
    return TokenRequest(
        "POST", f"{base}/app/installations/{_s(d.get('installationId'))}/access_tokens",
        {"Authorization": f"Bearer {app_jwt}", "Accept": "application/vnd.github+json",
         "X-GitHub-Api-Version": "2022-11-28"},
    )


def _salesforce_auth_url(d: Mapping[str, Any]) -> str:
    domain = re.sub(r"/$", "", _s(d.get("myDomainUrl") or ""))
    if domain:
        return domain
    return "https://test.salesforce.com" if d.get("environment") == "sandbox" else "https://login.salesforce.com"


def _salesforce(d: Mapping[str, Any], now: float) -> TokenRequest:
    auth_url = _salesforce_auth_url(d)
    issued = int(now)  # jsonwebtoken adds iat after the given claims
    assertion = sign_rs256({"iss": d.get("clientId"), "sub": d.get("username"), "aud": auth_url,
                            "exp": issued + 3 * 60, "iat": issued}, d.get("privateKey"), what="salesforceJwtApi")
    return TokenRequest("POST", f"{auth_url}/services/oauth2/token", dict(_FORM), form={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})


def _salesforce_parse(response: TokenResponse, now: float) -> tuple[dict[str, Any], float | None]:
    token, instance = response.field("access_token"), response.field("instance_url")
    if not token or not instance:
        raise PreAuthError("Salesforce JWT authentication did not return an access token and instance URL",
                           permanent=False)
    return {"accessToken": token, "instanceUrl": instance}, lifetime_from(response, now)


SPECS: Final[dict[str, Spec]] = {
    "metabaseApi": Spec("sessionToken", "session id", _metabase, _token("sessionToken", "id")),
    "formIoApi": Spec("token", "x-jwt-token header", _formio, _formio_parse),
    "baserowApi": Spec("jwtToken", "token", _baserow, _jwt_token("jwtToken", "token")),
    "wekanApi": Spec("token", "token", _wekan, _wekan_parse),
    "zscalerZiaApi": Spec("cookie", "JSESSIONID cookie", _zscaler, _zscaler_parse),
    "venafiTlsProtectDatacenterApi": Spec("token", "access_token", _venafi, _venafi_parse),
    "auth0ManagementApi": Spec("sessionToken", "access_token", _auth0, _token("sessionToken")),
    "ciscoUmbrellaApi": Spec("sessionToken", "access_token", _cisco, _token("sessionToken")),
    "crowdStrikeOAuth2Api": Spec("sessionToken", "access_token", _crowdstrike, _token("sessionToken")),
    "atlassianServiceAccountApi": Spec("accessToken", "access token", _atlassian, _token("accessToken")),
    "microsoftEntraServicePrincipalApi": Spec("accessToken", "access token", _entra, _token("accessToken")),
    "githubAppApi": Spec("accessToken", "installation token", _github_app, _token("accessToken", "token")),
    "salesforceJwtApi": Spec("accessToken", "access token", _salesforce, _salesforce_parse, ("instanceUrl",)),
}
