"""Cases for :mod:`fluxnex.n8n.code_auth.nodes.services_s_z` and ``services_s_z_login``."""

from __future__ import annotations

from typing import Any

from n8n_engine.node_cases import NodeCall, TypeCases, call, shapes

_G = "nodes/{}/GenericFunctions.js:{}"


def _with(source: str, **kwargs: Any) -> list[NodeCall]:
    """:func:`shapes` with node parameters or canned answers."""
    return [call(source, "GET", "/items", qs={"limit": 10, "q": "a b"}, **kwargs),
            call(source, "POST", "/items", {"name": "n", "nested": {"x": [1, 2]}}, **kwargs),
            call(source, "DELETE", "/items/1", **kwargs)]


def _raw(source: str, args: list[Any], method: str, path: str, qs: dict[str, Any] | None = None, body: Any = None,
         **kwargs: Any) -> NodeCall:
    """A call whose arguments are not ``(method, path, body, qs)``."""
    module, _, function = source.partition(":")
    return NodeCall(module, function, args, method, path, dict(qs or {}), body, **kwargs)


def _path_less(source: str, method: str, path: str, qs: dict[str, Any] | None = None, body: Any = None,
               **kwargs: Any) -> NodeCall:
    """A ``(method, endpoint, body, qs)`` call whose endpoint has no leading slash (the node adds it)."""
    return _raw(source, [method, path, {} if body is None else body, dict(qs or {})], method, "/" + path, qs, body,
                **kwargs)


SYNCRO = "nodes/SyncroMSP/v1/transport/index.js:apiRequest"
STORYBLOK = _G.format("Storyblok", "storyblokApiRequest")
ZAMMAD = _G.format("Zammad", "zammadApiRequest")
SIGNL4 = _G.format("Signl4", "SIGNL4ApiRequest")
UNLEASHED = _G.format("UnleashedSoftware", "unleashedApiRequest")
TELEGRAM = _G.format("Telegram", "apiRequest")
WISE = _G.format("Wise", "wiseApiRequest")
YOURLS = _G.format("Yourls", "yourlsApiRequest")
WHATSAPP = "nodes/WhatsApp/GenericFunctions.js:appWebhookSubscription{}"
STRAPI = "nodes/Strapi/Strapi.node.js:Strapi#execute"

_JWT = [{"jwt": "eyJ.strapi.jwt", "user": {"id": 1}}]
_STRAPI = {"authentication": "password", "resource": "entry", "contentType": "items", "entryId": "1"}
_WISE_OK = [{"statusCode": 200, "headers": {}, "body": {}}]
_APP_TOKEN = [{"access_token": "app|t0k", "token_type": "bearer"}]
_SUBSCRIPTION = {"object": "whatsapp_business_account", "callback_url": "https://hooks.example.com/w",
                 "fields": ["messages"], "verify_token": "v"}

CASES = {
    "sendyApi": TypeCases(shapes(_G.format("Sendy", "sendyApiRequest")),
                          [{"url": "https://sendy.example.com", "apiKey": "k3y"},
                           {"url": "https://sendy.example.com/", "apiKey": "ké y&="}]),
    "signl4Api": TypeCases([_raw(SIGNL4, ["POST", {"message": "m", "X-S4-Status": "new"}, {}], "POST", "",
                                 body={"message": "m", "X-S4-Status": "new"}),
                            _raw(SIGNL4, ["GET", {}, {"a": "1"}], "GET", "", qs={"a": "1"})],
                           [{"teamSecret": "t3am-Secret_1.x"}]),
    "stackbyApi": TypeCases(shapes("nodes/Stackby/GenericFunction.js:apiRequest"),
                            [{"apiKey": "k3y"}, {"apiKey": "é"}]),
    "storyblokContentApi": TypeCases(_with(STORYBLOK, params={"source": "contentApi"}),
                                     [{"apiKey": "pub-k3y"}, {"apiKey": "a b&c"}]),
    "storyblokManagementApi": TypeCases(_with(STORYBLOK, params={"source": "managementApi"}),
                                        [{"accessToken": "mgmt-t0k"}]),
    "surveyMonkeyApi": TypeCases(_with(_G.format("SurveyMonkey", "surveyMonkeyApiRequest"),
                                       params={"authentication": "accessToken"}),
                                 [{"accessToken": "t0k"}, {"accessToken": ""}]),
    "syncroMspApi": TypeCases([call(SYNCRO, "GET", "customers", qs={"page": 2, "q": "a b"}),
                               call(SYNCRO, "POST", "customers", {"business_name": "n", "x": {"y": 1}}),
                               call(SYNCRO, "GET", "customers/1")],
                              [{"subdomain": "acme", "apiKey": "k3y"}, {"subdomain": "acme", "apiKey": "k+y/é"}]),
    "strapiApi": TypeCases([
        NodeCall("nodes/Strapi/Strapi.node.js", "Strapi#execute", [], "DELETE", "/items/1",
                 params={**_STRAPI, "operation": "delete"}, responses=_JWT),
        NodeCall("nodes/Strapi/Strapi.node.js", "Strapi#execute", [], "GET", "/items/1",
                 params={**_STRAPI, "operation": "get"}, responses=_JWT),
    ], [{"url": "https://cms.example.com", "email": "a@example.com", "password": "pw", "apiVersion": "v3"},
        {"url": "https://cms.example.com/", "email": "é@example.com", "password": "p\"w ü", "apiVersion": "v4"}]),
    "taigaApi": TypeCases(_with(_G.format("Taiga", "taigaApiRequest"), responses=[{"auth_token": "taiga-t0k"}]),
                          [{"username": "u", "password": "pw", "environment": "cloud"},
                           {"username": "ü", "password": "p w", "environment": "selfHosted",
                            "url": "https://taiga.example.com"}]),
    "tapfiliateApi": TypeCases(shapes(_G.format("Tapfiliate", "tapfiliateApiRequest")), [{"apiKey": "k3y"}]),
    "telegramApi": TypeCases([_path_less(TELEGRAM, "GET", "getUpdates", qs={"offset": 5, "q": "a b"}),
                              _path_less(TELEGRAM, "POST", "sendMessage", body={"chat_id": 1, "text": "hé"}),
                              _path_less(TELEGRAM, "GET", "getMe")],
                             [{"accessToken": "123456:ABC-def_GHI"},
                              {"accessToken": "1:x", "baseUrl": "https://tg.example.com/proxy/"}]),
    "travisCiApi": TypeCases(shapes(_G.format("TravisCi", "travisciApiRequest")), [{"apiToken": "t0k"}]),
    "unleashedSoftwareApi": TypeCases([
        _raw(UNLEASHED, ["GET", "Products", {}, {"pageSize": 10, "q": "a b*é", "x(y)": "!'"}], "GET", "/Products",
             qs={"pageSize": 10, "q": "a b*é", "x(y)": "!'"}),
        _raw(UNLEASHED, ["GET", "Products", {}, {}, 2], "GET", "/Products/2"),
        _raw(UNLEASHED, ["POST", "SalesOrders", {"name": "n"}, {}], "POST", "/SalesOrders", body={"name": "n"}),
    ], [{"apiId": "id-1", "apiKey": "s3cret"}, {"apiId": "ü", "apiKey": "ké"}]),
    "upleadApi": TypeCases(shapes(_G.format("Uplead", "upleadApiRequest")), [{"apiKey": "k3y"}]),
    "veroApi": TypeCases(shapes(_G.format("Vero", "veroApiRequest")), [{"authToken": "t0k"}, {"authToken": "a&b=é"}]),
    "vonageApi": TypeCases(shapes(_G.format("Vonage", "vonageApiRequest")),
                           [{"apiKey": "k3y", "apiSecret": "s3c"}, {"apiKey": "é", "apiSecret": "a&b"}]),
    "whatsAppTriggerApi": TypeCases([
        _raw(WHATSAPP.format("List"), ["123"], "GET", "/123/subscriptions", responses=_APP_TOKEN),
        _raw(WHATSAPP.format("Create"), ["123", _SUBSCRIPTION], "POST", "/123/subscriptions", body=_SUBSCRIPTION,
             responses=_APP_TOKEN),
        _raw(WHATSAPP.format("Delete"), ["123", "user"], "DELETE", "/123/subscriptions", body={"object": "user"},
             responses=_APP_TOKEN),
    ], [{"clientId": "42", "clientSecret": "s3c&ret=é"}]),
    "wiseApi": TypeCases([
        _raw(WISE, ["GET", "v1/accounts", {}, {"profile": 7}], "GET", "v1/accounts", qs={"profile": 7},
             responses=_WISE_OK),
        _raw(WISE, ["POST", "v1/quotes", {"profile": 7, "amount": 1.5}], "POST", "v1/quotes",
             body={"profile": 7, "amount": 1.5}, responses=_WISE_OK),
        _raw(WISE, ["DELETE", "v3/profiles/7/subscriptions/1"], "DELETE", "v3/profiles/7/subscriptions/1",
             responses=_WISE_OK),
    ], [{"apiToken": "t0k", "environment": "live"}, {"apiToken": "t0k", "environment": "test", "privateKey": ""}]),
    "yourlsApi": TypeCases([
        _raw(YOURLS, ["GET", {}, {"action": "shorturl", "url": "https://x.example/a b"}], "GET", "/yourls-api.php",
             qs={"action": "shorturl", "url": "https://x.example/a b"}),
        _raw(YOURLS, ["POST", {"keyword": "k"}, {"action": "expand"}], "POST", "/yourls-api.php",
             qs={"action": "expand"}, body={"keyword": "k"}),
    ], [{"url": "https://sho.rt", "signature": "s1g"}, {"url": "https://sho.rt/y", "signature": "é&"}]),
    "zammadBasicAuthApi": TypeCases(_with(ZAMMAD, params={"authentication": "basicAuth"}),
                                    [{"baseUrl": "https://help.example.com", "username": "u", "password": "pw"},
                                     {"baseUrl": "https://help.example.com/", "username": "é", "password": "p:w",
                                      "allowUnauthorizedCerts": True}]),
    "zammadTokenAuthApi": TypeCases(_with(ZAMMAD, params={"authentication": "tokenAuth"}),
                                    [{"baseUrl": "https://help.example.com/", "accessToken": "t0k"}]),
    "zulipApi": TypeCases(_with(_G.format("Zulip", "zulipApiRequest")),
                          [{"url": "https://chat.example.com", "email": "bot@example.com", "apiKey": "k3y"},
                           {"url": "https://chat.example.com/", "email": "é@example.com", "apiKey": "k:y"}]),
}


def _rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


# Strong Customer Authentication: a 403 with a one-time token, signed with the private key and sent again
_SCA = [{"statusCode": 403, "headers": {"x-2fa-approval": "0ne-t1me-t0ken"}, "body": {}}, *_WISE_OK]
CASES["wiseApi"].calls.extend([
    _raw(WISE, ["GET", "v1/profiles/7/balance-statements/1/statement.json", {}, {"currency": "EUR"}], "GET",
         "v1/profiles/7/balance-statements/1/statement.json", qs={"currency": "EUR"}, responses=_SCA),
    _raw(WISE, ["POST", "v3/profiles/7/transfers/1/payments", {"type": "BALANCE"}], "POST",
         "v3/profiles/7/transfers/1/payments", body={"type": "BALANCE"}, responses=_SCA),
])
CASES["wiseApi"].credentials.append({"apiToken": "t0k", "environment": "live", "privateKey": _rsa_pem()})
