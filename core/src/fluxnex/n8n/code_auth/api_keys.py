"""Types whose code sets a fixed header, query parameter or basic auth from their fields.

Each function restates one n8n class's ``authenticate`` (n8n-nodes-base 2.41.2), statement by statement:
where n8n replaces ``requestOptions.headers`` with a new object, so does the function here (the adapter in
:mod:`fluxnex.n8n.code_auth.requests_adapter` decides what a ``requests`` call keeps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth._context import AuthFunction, Context
from fluxnex.n8n.code_auth._js import (
    CodeAuthError,
    Options,
    b64,
    basic,
    copy,
    get,
    headers_of,
    put,
    spread,
    text,
    truthy,
    utf16_length,
)
from fluxnex.n8n.expressions import UNDEFINED

Creds = Mapping[str, Any]


def action_network(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    o["headers"] = {}
    put(o["headers"], "OSDI-API-Token", get(c, "apiKey"))
    return o


def bitbucket_access_token(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    if not truthy(o.get("headers", UNDEFINED)):
        o["headers"] = {}
    o["headers"]["Authorization"] = "Basic " + b64(f"{text(get(c, 'email'))}:{text(get(c, 'accessToken'))}")
    return o


def calendly(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    key = get(c, "apiKey")
    if o.get("headers") is None:
        o["headers"] = {}
    o["headers"]["Authorization"] = f"Bearer {key if isinstance(key, str) else ''}"
    return o


def datadog(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    o["headers"] = {}
    put(o["headers"], "DD-API-KEY", get(c, "apiKey"))
    put(o["headers"], "DD-APPLICATION-KEY", get(c, "appKey"))
    if not truthy(o["headers"].get("DD-APPLICATION-KEY", UNDEFINED)):
        o["headers"].pop("DD-APPLICATION-KEY", None)
    return o


def discourse(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    o["headers"] = {}
    put(o["headers"], "Api-Key", get(c, "apiKey"))
    put(o["headers"], "Api-Username", get(c, "username"))
    if o.get("method") == "GET":
        o.pop("body", None)
    return o


def elastic_security(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    if get(c, "type") == "apiKey":
        o["headers"] = {"Authorization": f"ApiKey {text(get(c, 'apiKey'))}"}
    else:
        o["auth"] = {}
        put(o["auth"], "username", get(c, "username"))
        put(o["auth"], "password", get(c, "password"))
        o["headers"] = {"kbn-xsrf": True}
    return o


def ghost_content(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    o["qs"] = spread(o.get("qs"))
    put(o["qs"], "key", get(c, "apiKey"))
    return o


def invoice_ninja(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    token, secret = get(c, "apiToken"), get(c, "secret")
    if token is UNDEFINED or token is None:
        raise CodeAuthError("invoiceNinjaApi: the API token is missing")
    short = isinstance(token, str) and utf16_length(token) < 64  # n8n: `apiToken.length < 64`
    if short:
        o["headers"] = {"Accept": "application/json"}
        put(o["headers"], "X-Ninja-Token", token)
    else:
        o["headers"] = {"Content-Type": "application/json"}
        put(o["headers"], "X-API-TOKEN", token)
        o["headers"]["X-Requested-With"] = "XMLHttpRequest"
        o["headers"]["X-API-SECRET"] = secret if truthy(secret) else ""
    return o


def lemlist(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    headers = headers_of(o, "lemlistApi")
    headers["Authorization"] = "Basic " + b64(":" + text(get(c, "apiKey")))
    headers["user-agent"] = "n8n"
    return o


def mailer_lite(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    if get(c, "classicApi") is True:
        o["headers"] = {}
        put(o["headers"], "X-MailerLite-ApiKey", get(c, "apiKey"))
    else:
        o["headers"] = {"Authorization": f"Bearer {text(get(c, 'apiKey'))}"}
    return o


def next_cloud(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    o["auth"] = {}
    put(o["auth"], "username", get(c, "user"))
    put(o["auth"], "password", get(c, "password"))
    return o


def notion(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    # n8n appends a space after the key; Notion accepts it
    o["headers"] = {**spread(o.get("headers")), "Authorization": f"Bearer {text(get(c, 'apiKey'))} "}
    if not truthy(o["headers"].get("Notion-Version", UNDEFINED)):
        o["headers"] = {**o["headers"], "Notion-Version": "2022-02-22"}
    return o


def open_ai(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    if o.get("headers") is None:
        o["headers"] = {}
    headers = o["headers"]
    headers["Authorization"] = f"Bearer {text(get(c, 'apiKey'))}"
    put(headers, "OpenAI-Organization", get(c, "organizationId"))
    name, value = get(c, "headerName"), get(c, "headerValue")
    if truthy(get(c, "header")) and isinstance(name, str) and name and isinstance(value, str):
        headers[name] = value
    return o


def schema_registry(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    if get(c, "authentication") == "basicAuth":
        user, password = get(c, "username"), get(c, "password")
        if isinstance(user, str) and user and isinstance(password, str) and password:
            o["auth"] = {"username": user, "password": password}
    return o


def segment(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    headers_of(o, "segmentApi")["Authorization"] = "Basic " + b64(f"{text(get(c, 'writekey'))}:")
    return o


def _basic_header(user_field: str, password_field: str) -> AuthFunction:
    def apply(c: Creds, o: Options, _: Context) -> Options:
        o = copy(o)
        o["headers"] = {**spread(o.get("headers")),
                        "Authorization": basic(get(c, user_field), get(c, password_field))}
        return o

    return apply


def trello(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    o["qs"] = spread(o.get("qs"))
    put(o["qs"], "key", get(c, "apiKey"))
    put(o["qs"], "token", get(c, "apiToken"))
    return o


def zendesk(c: Creds, o: Options, _: Context) -> Options:
    o = copy(o)
    o["auth"] = {"username": f"{text(get(c, 'email'))}/token"}
    put(o["auth"], "password", get(c, "apiToken"))
    return o


IMPLEMENTATIONS: dict[str, AuthFunction] = {
    "actionNetworkApi": action_network,
    "bitbucketAccessTokenApi": bitbucket_access_token,
    "calendlyApi": calendly,
    "datadogApi": datadog,
    "discourseApi": discourse,
    "elasticSecurityApi": elastic_security,
    "ghostContentApi": ghost_content,
    "invoiceNinjaApi": invoice_ninja,
    "lemlistApi": lemlist,
    "mailerLiteApi": mailer_lite,
    "nextCloudApi": next_cloud,
    "notionApi": notion,
    "openAiApi": open_ai,
    "schemaRegistryApi": schema_registry,
    "segmentApi": segment,
    "shopifyApi": _basic_header("apiKey", "password"),
    "trelloApi": trello,
    "uprocApi": _basic_header("email", "apiKey"),
    "zendeskApi": zendesk,
}
