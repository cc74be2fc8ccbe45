"""Cases for :mod:`fluxnex.n8n.code_auth.nodes.services_m_s` (and its ``_tokens`` and ``_s3`` parts)."""

from __future__ import annotations

from typing import Any

from n8n_engine.node_cases import NodeCall, TypeCases, call, shapes


def _gf(node: str, function: str) -> str:
    return f"nodes/{node}/GenericFunctions.js:{function}"


def _args(source: str, args: list[Any], method: str, path: str, **kwargs: Any) -> NodeCall:
    """A call whose node arguments are not ``(method, path, body, qs)``."""
    module, _, function = source.partition(":")
    return NodeCall(module, function, args, method, path, **kwargs)


def _relative(source: str) -> list[NodeCall]:
    """The shapes for a node whose resource has no leading slash (``${root}/${resource}``)."""
    return [_args(source, [c.method, c.path.lstrip("/"), c.args[2], c.args[3]], c.method, c.path, qs=c.qs,
                  body=c.body) for c in shapes(source)]


MANDRILL = _gf("Mandrill", "mandrillApiRequest")
MOCEAN = _gf("Mocean", "moceanApiRequest")
MSG91 = _gf("Msg91", "msg91ApiRequest")
PADDLE = _gf("Paddle", "paddleApiRequest")
PAYPAL = _gf("PayPal", "payPalApiRequest")
PLIVO = _gf("Plivo", "plivoApiRequest")
ODOO = "nodes/Odoo/v2/transport/index.js:odooApiRequest"
SEATABLE = "nodes/SeaTable/v2/GenericFunctions.js:seaTableApiRequest"
SEATABLE_V1 = "nodes/SeaTable/v1/GenericFunctions.js:seaTableApiRequest"
S3 = "nodes/S3/GenericFunctions.js:s3ApiRequest"
_SMS = {"mocean-from": "n8n", "mocean-to": "60123456789", "mocean-text": "hé there & more"}
_PADDLE_OK = {"success": True, "response": []}
_TOKEN = {"access_token": "A21AA.tok", "token_type": "Bearer", "expires_in": 32400}


def _rpc(*args: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "call", "id": 0,
            "params": {"service": "object", "method": "execute", "args": list(args)}}


def _odoo(model: str, method: str, body: dict[str, Any], rpc_args: list[Any], responses: list[Any]) -> NodeCall:
    return _args(ODOO, [model, method, body], "POST", "/jsonrpc", body=_rpc(model, method, *rpc_args),
                 params={"authentication": "odooApi"}, responses=responses)


_BASE = {"access_token": "base.jwt", "dtable_uuid": "0f9e-uuid", "dtable_server": "https://cloud.seatable.io/"}


def _seatable(method: str, endpoint: str, body: Any = None, qs: dict[str, Any] | None = None,
              source: str = SEATABLE) -> NodeCall:
    return _args(source, [{}, method, endpoint, body or {}, qs or {}], method, endpoint, qs=qs or {}, body=body,
                 responses=[_BASE])


_HOST = "https://my-bucket.s3.example.com"


def _s3(method: str, bucket: str, path: str, body: str = "", query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None) -> NodeCall:
    url = f"{_HOST}{path or '/'}" if bucket else (path or "/")
    return _args(S3, [bucket, method, path, body, query or {}, headers or {}], method, url, qs=query or {},
                 body=body or None, headers=headers or {})


CASES = {
    "mandrillApi": TypeCases([
        _args(MANDRILL, ["/messages", "POST", "/send", {"message": {"text": "hé", "to": [{"email": "a@b.c"}]}}],
              "POST", "/messages/send.json", body={"message": {"text": "hé", "to": [{"email": "a@b.c"}]}}),
        _args(MANDRILL, ["/users", "POST", "/ping", {}], "POST", "/users/ping.json"),
    ], [{"apiKey": "md-k3y"}, {"apiKey": ""}, {"apiKey": "clé"}]),
    "marketstackApi": TypeCases([
        call(_gf("Marketstack", "marketstackApiRequest"), "GET", "/eod", qs={"symbols": "AAPL,MSFT", "limit": 5}),
        call(_gf("Marketstack", "marketstackApiRequest"), "GET", "/tickers", qs={"access_key": "callers"}),
    ], [{"apiKey": "ms-key"}, {"apiKey": "ms-key", "useHttps": True}]),
    "matrixApi": TypeCases([
        *shapes(_gf("Matrix", "matrixApiRequest")),
        call(_gf("Matrix", "matrixApiRequest"), "GET", "/account/whoami"),
    ], [{"accessToken": "syt_tok"}, {"accessToken": "syt_tok", "homeserverUrl": "https://matrix.example.org/"}]),
    "mediumApi": TypeCases([call(_gf("Medium", "mediumApiRequest"), c.method, c.path, c.body, c.qs,
                                 params={"authentication": "accessToken"})
                            for c in shapes(_gf("Medium", "mediumApiRequest"))], [{"accessToken": "2a6b"}]),
    "messageBirdApi": TypeCases(shapes(_gf("MessageBird", "messageBirdApiRequest")), [{"accessKey": "live_k"}]),
    "moceanApi": TypeCases([
        call(MOCEAN, "POST", "/rest/2/sms", _SMS, form=True),
        call(MOCEAN, "POST", "/rest/2/verify/req", form=True),
        call(MOCEAN, "GET", "/rest/2/account/balance", qs={"mocean-resp-format": "XML", "x": "a b"}),
        call(MOCEAN, "DELETE", "/rest/2/things/1"),
    ], [{"mocean-api-key": "mk", "mocean-api-secret": "ms"}, {"mocean-api-key": "ké", "mocean-api-secret": ""}]),
    "monicaCrmApi": TypeCases(shapes(_gf("MonicaCrm", "monicaCrmApiRequest")), [
        {"apiToken": "eyJ0"}, {"apiToken": "eyJ0", "environment": "selfHosted", "domain": "https://crm.example.com"}]),
    "msg91Api": TypeCases([
        call(MSG91, "POST", "/sendhttp.php", {"sender": "N8N", "message": "hi there", "mobiles": "91999"}, form=True),
        call(MSG91, "GET", "/balance.json", qs={"type": "4", "authkey": "callers"}),
    ], [{"authkey": "m91"}]),
    "oneSimpleApi": TypeCases([
        *shapes(_gf("OneSimpleApi", "oneSimpleApiRequest")),
        call(_gf("OneSimpleApi", "oneSimpleApiRequest"), "GET", "/pdf", qs={"url": "https://n8n.io/a?b=c"}),
    ], [{"apiToken": "osa_1"}]),
    "onfleetApi": TypeCases(_relative(_gf("Onfleet", "onfleetApiRequest")), [{"apiKey": "of-key"}, {"apiKey": "ké:y"}]),
    "orbitApi": TypeCases(shapes(_gf("Orbit", "orbitApiRequest")), [{"accessToken": "obu_x"}]),
    "paddleApi": TypeCases([
        _args(PADDLE, ["/2.0/subscription/users", "POST", {"plan_id": 7, "state": "active"}], "POST",
              "/2.0/subscription/users", body={"plan_id": 7, "state": "active"}, responses=[_PADDLE_OK]),
        _args(PADDLE, ["/2.0/product/get_products", "POST", {}], "POST", "/2.0/product/get_products",
              responses=[_PADDLE_OK]),
    ], [{"vendorId": "123", "vendorAuthCode": "vac"}, {"vendorId": "9", "vendorAuthCode": "é", "sandbox": True}]),
    "pagerDutyApi": TypeCases([call(_gf("PagerDuty", "pagerDutyApiRequest"), c.method, c.path, c.body, c.qs,
                                    params={"authentication": "apiToken"})
                               for c in shapes(_gf("PagerDuty", "pagerDutyApiRequest"))], [{"apiToken": "u+pd"}]),
    "payPalApi": TypeCases([
        _args(PAYPAL, ["/payments/payouts", "POST", {"sender_batch_header": {"email_subject": "é"}}], "POST",
              "/payments/payouts", body={"sender_batch_header": {"email_subject": "é"}}, responses=[_TOKEN]),
        _args(PAYPAL, ["/payments/payouts/B1", "GET", {}, {"fields": "batch_header"}], "GET",
              "/payments/payouts/B1", qs={"fields": "batch_header"}, responses=[_TOKEN]),
    ], [{"clientId": "AcL1", "secret": "EKs3", "env": "sanbox"},
        {"clientId": "clïent", "secret": "s:e", "env": "live"}]),
    "plivoApi": TypeCases([
        _args(PLIVO, ["POST", "/Message", {"src": "1415", "dst": "1416", "text": "hi there"}, {}], "POST",
              "/Message/", body={"src": "1415", "dst": "1416", "text": "hi there"}, form=True),
        _args(PLIVO, ["GET", "/Message", {}, {"limit": 5}], "GET", "/Message/", qs={"limit": 5}),
    ], [{"authId": "MAXXX", "authToken": "tok"}]),
    "profitWellApi": TypeCases(shapes(_gf("ProfitWell", "profitWellApiRequest")), [{"accessToken": "pw-tok"}]),
    "pushcutApi": TypeCases(shapes(_gf("Pushcut", "pushcutApiRequest")), [{"apiKey": "pc-key"}]),
    "quickbaseApi": TypeCases(shapes(_gf("QuickBase", "quickbaseApiRequest")),
                              [{"hostname": "demo.quickbase.com", "userToken": "b3_tok"}]),
    "salesmateApi": TypeCases(shapes(_gf("Salesmate", "salesmateApiRequest")),
                              [{"sessionToken": "st-1", "url": "acme.salesmate.io"}, {"sessionToken": "st-2"}]),
    "securityScorecardApi": TypeCases(_relative(_gf("SecurityScorecard", "scorecardApiRequest")), [{"apiKey": "ssc"}]),
    "odooApi": TypeCases([
        _odoo("res.partner", "read", {"ids": [1, 2], "fields": ["name"]}, [[1, 2], ["name"]],
              [{"jsonrpc": "2.0", "id": 0, "result": 7}]),
        _odoo("res.partner", "create", {"vals_list": [{"name": "Zoë"}]}, [{"name": "Zoë"}],
              [{"jsonrpc": "2.0", "id": 0, "result": 2}]),
        _odoo("crm.lead", "unlink", {"ids": [3]}, [[3]],
              [{"jsonrpc": "2.0", "id": 0, "error": {"message": "Odoo Server Error",
                                                     "data": {"message": "Access Denied"}}}]),
    ], [{"url": "https://acme.odoo.com/", "username": "admin", "password": "pässword"},
        {"url": "https://erp.example.com", "db": "prod", "username": "bot@example.com", "password": "pw"}]),
    "seaTableApi": TypeCases([
        _seatable("GET", "/api-gateway/api/v2/dtables/{{dtable_uuid}}/rows/", qs={"table_name": "T", "limit": 10}),
        _seatable("POST", "/api-gateway/api/v2/dtables/{{dtable_uuid}}/rows/", {"table_name": "T", "rows": [{"a": 1}]}),
        _seatable("GET", "/api/v2.1/dtable/app-upload-link/"),
        _seatable("GET", "/api/v2.1/dtable/app-download-link/", qs={"path": "/f.txt"}),
        _seatable("GET", "/seafhttp/files/abc/f.txt"),
        _seatable("GET", "/api-gateway/api/v2/dtables/{{ dtable_uuid }}/metadata/", source=SEATABLE_V1),
    ], [{"token": "api-tok"}, {"token": "api-tok", "environment": "selfHosted", "domain": "https://st.example.com/"}]),
    "s3": TypeCases([
        _s3("GET", "my-bucket", "", query={"list-type": 2, "prefix": "a b/", "max-keys": 10}),
        _s3("PUT", "my-bucket", "/folder/my file+1 (é).txt", "hello wörld",
            headers={"Content-Type": "text/plain", "x-amz-acl": "private", "x-amz-meta-note": "two  spaces"}),
        _s3("PUT", "my-bucket", "/raw.bin", "no type given"),
        _s3("POST", "my-bucket", "/", "<Delete><Object><Key>k</Key></Object></Delete>", {"delete": ""},
            {"Content-Type": "application/xml", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
        _s3("DELETE", "my-bucket", "/a%2Fb/c.txt"),
        _s3("GET", "", "/"),
        _s3("PUT", "", "/path-style-bucket/k.json", '{"a":1}', headers={"Content-Type": "application/json"}),
    ], [{"endpoint": "https://s3.example.com", "region": "eu-west-1", "accessKeyId": "AKIDEXAMPLE",
         "secretAccessKey": "wJalrXUtnFEMI/K7MDENG"},
        {"endpoint": "https://s3.example.com/", "accessKeyId": " AKID2 ", "secretAccessKey": " sécret "}]),
}
