"""Service nodes from Acuity Scheduling to Discord (n8n-nodes-base 2.41.2): what each adds to its requests.

Each function restates the authentication part of one node's request function (named in its entry's
``source``): a header, basic auth, a token in the query, a Bitwarden access token fetched first, or (Discord
webhooks) the request sent to the credential's secret URL. Where a node builds a new ``headers`` object, the
function writes into the request's headers (the adapter keeps the caller's others). Node parameters that choose
another credential type (``authentication: oAuth2``...) are that type's business; a parameter that chooses
between this credential's own fields (Contentful's ``source``) is read from the host the request goes to, as the
node derives both from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from fluxnex.n8n.code_auth._context import AuthFunction, Context, TokenRequest
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, form_encode, get, hostname, put, text
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.expressions import UNDEFINED

Creds = Mapping[str, Any]
#: a value the node computes from the credentials
Value = Callable[[Creds], Any]


def _headers(o: Options) -> dict[str, Any]:
    o["headers"] = dict(o.get("headers") or {})
    return o["headers"]  # type: ignore[no-any-return]


def _with_header(*pairs: tuple[str, Value]) -> AuthFunction:
    """A node that sends headers ``name: value(credentials)`` (a key, or ``Bearer`` and a token). Bitly's
    builds a new headers object with its one header: the adapter keeps the caller's others all the same."""

    def authenticate(c: Creds, o: Options, _: Context) -> Options:
        o = copy(o)
        headers = _headers(o)
        for name, value in pairs:
            put(headers, name, value(c))
        return o

    return authenticate


def _with_basic(user: Value, password: Value) -> AuthFunction:
    """A node that sends basic auth ``user(credentials):password(credentials)``."""

    def authenticate(c: Creds, o: Options, _: Context) -> Options:
        o = copy(o)
        o["auth"] = {"username": user(c), "password": password(c)}
        return o

    return authenticate


def _field(name: str) -> Value:
    return lambda c: get(c, name)


def _bearer(name: str) -> Value:
    return lambda c: f"Bearer {text(get(c, name))}"


def _query(o: Options, key: str, value: Any) -> Options:
    o = copy(o)
    qs = dict(o.get("qs") or {})
    put(qs, key, value)
    o["qs"] = qs
    return o


def cockpit(c: Creds, o: Options, _: Context) -> Options:
    """``qs: {token: accessToken}`` (the node's only query)."""
    return _query(o, "token", get(c, "accessToken"))


def contentful(c: Creds, o: Options, _: Context) -> Options:
    """``qs.access_token``: the preview token for ``preview.contentful.com`` (the node's ``source: previewApi``),
    else the delivery token."""
    preview = hostname(text(o.get("uri") or o.get("url") or "")) == "preview.contentful.com"
    token = get(c, "ContentPreviewaccessToken" if preview else "ContentDeliveryaccessToken")
    return _query(o, "access_token", token)


def _webhook(c: Creds) -> SplitResult:
    target = get(c, "webhookUri")
    parts = urlsplit(target if isinstance(target, str) else "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CodeAuthError("discordWebhookApi: the webhook URI is not an absolute http(s) URL")
    return parts


def _webhook_root(c: Creds) -> str:
    """The webhook URI without its query (a session's ``base_url`` join would fold a path into the query); the
    request then goes to the URI itself, query included. Read as it is when it is no URL (the request fails)."""
    target = text(get(c, "webhookUri"))
    return urlunsplit(urlsplit(target)._replace(query="", fragment=""))


def discord_webhook(c: Creds, o: Options, _: Context) -> Options:
    """The node sends every request of this credential to ``webhookUri`` (the secret is the URL itself), the
    request's query after the URI's own (less the pairs the URI already has: a request addressed to the webhook
    itself, query included, goes out unchanged)."""
    parts = _webhook(c)
    own = parse_qsl(parts.query, keep_blank_values=True)
    pairs = [(str(k), text(x)) for k, v in (o.get("qs") or {}).items() for x in (v if isinstance(v, list) else [v])]
    query = "&".join(filter(None, [parts.query, urlencode([p for p in pairs if p not in own])]))
    o = copy(o)
    o["url"] = urlunsplit(parts._replace(query=query, fragment=""))
    return o


def _bitwarden_root(c: Creds, cloud: str, path: str) -> str:
    return cloud if get(c, "environment") == "cloudHosted" else f"{text(get(c, 'domain'))}{path}"


def bitwarden(c: Creds, o: Options, ctx: Context) -> Options:
    """An access token from the client credentials grant (``getAccessToken``), sent as a Bearer."""
    url = _bitwarden_root(c, "https://identity.bitwarden.com/connect/token", "/identity/connect/token")
    fields = [("client_id", get(c, "clientId")), ("client_secret", get(c, "clientSecret")),
              ("grant_type", "client_credentials"), ("scope", "api.organization"), ("deviceName", "n8n"),
              ("deviceType", 2), ("deviceIdentifier", "n8n")]
    body = form_encode([(k, text(v)) for k, v in fields if v is not UNDEFINED])
    identity = hashlib.sha256("\x00".join(["bitwardenApi", url, text(get(c, "clientId")),
                                           text(get(c, "clientSecret"))]).encode("utf-8")).hexdigest()
    if ctx.fetch_token is None:
        raise CodeAuthError("bitwardenApi: fetching an access token needs a token fetcher")
    answer = ctx.fetch_token(TokenRequest(url=url, body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"}, purpose="bitwardenApi", cache_key=identity))
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise CodeAuthError("bitwardenApi: the token endpoint answered without an access_token")
    o = copy(o)
    _headers(o)["Authorization"] = f"Bearer {token}"
    return o


def _bubble_root(c: Creds) -> str:
    root = f"https://{text(get(c, 'appName'))}.bubbleapps.io" if get(c, "hosting") == "bubbleHosted" else text(
        get(c, "domain"))
    return root + ("/version-test/api/1.1" if get(c, "environment") == "development" else "/api/1.1")


NODES: dict[str, NodeAuth] = {
    "acuitySchedulingApi": NodeAuth(
        _with_basic(_field("userId"), _field("apiKey")), lambda c: "https://acuityscheduling.com/api/v1",
        "nodes/AcuityScheduling/GenericFunctions.js:acuitySchedulingApiRequest"),
    "agileCrmApi": NodeAuth(
        _with_basic(_field("email"), _field("apiKey")),
        lambda c: f"https://{text(get(c, 'subdomain'))}.agilecrm.com/dev/",
        "nodes/AgileCrm/GenericFunctions.js:agileCrmApiRequest"),
    "autopilotApi": NodeAuth(
        _with_header(("autopilotapikey", _field("apiKey"))), lambda c: "https://api2.autopilothq.com/v1",
        "nodes/Autopilot/GenericFunctions.js:autopilotApiRequest"),
    "bambooHrApi": NodeAuth(
        _with_basic(_field("apiKey"), lambda c: "x"),
        lambda c: f"https://api.bamboohr.com/api/gateway.php/{text(get(c, 'subdomain'))}/v1/",
        "nodes/BambooHr/v1/transport/index.js:apiRequest"),
    "bannerbearApi": NodeAuth(
        _with_header(("Authorization", _bearer("apiKey"))), lambda c: "https://api.bannerbear.com/v2",
        "nodes/Bannerbear/GenericFunctions.js:bannerbearApiRequest"),
    "bitbucketApi": NodeAuth(
        _with_basic(_field("username"), _field("appPassword")), lambda c: "https://api.bitbucket.org/2.0",
        "nodes/Bitbucket/GenericFunctions.js:bitbucketApiRequest"),
    "bitlyApi": NodeAuth(
        _with_header(("Authorization", _bearer("accessToken"))), lambda c: "https://api-ssl.bitly.com/v4",
        "nodes/Bitly/GenericFunctions.js:bitlyApiRequest"),
    "bitwardenApi": NodeAuth(bitwarden, lambda c: _bitwarden_root(c, "https://api.bitwarden.com", "/api"),
                             "nodes/Bitwarden/Bitwarden.node.js:Bitwarden#execute"),
    "bubbleApi": NodeAuth(_with_header(("Authorization", _bearer("apiToken"))), _bubble_root,
                          "nodes/Bubble/GenericFunctions.js:bubbleApiRequest"),
    "chargebeeApi": NodeAuth(
        _with_basic(_field("apiKey"), lambda c: ""),
        lambda c: f"https://{text(get(c, 'accountName'))}.chargebee.com/api/v2/",
        "nodes/Chargebee/Chargebee.node.js:Chargebee#execute"),
    "circleCiApi": NodeAuth(
        _with_header(("Circle-Token", _field("apiKey"))), lambda c: "https://circleci.com/api/v2",
        "nodes/CircleCi/GenericFunctions.js:circleciApiRequest"),
    "cockpitApi": NodeAuth(cockpit, lambda c: f"{text(get(c, 'url'))}/api",
                           "nodes/Cockpit/GenericFunctions.js:cockpitApiRequest"),
    "codaApi": NodeAuth(
        _with_header(("Authorization", _bearer("accessToken"))), lambda c: "https://coda.io/apis/v1",
        "nodes/Coda/GenericFunctions.js:codaApiRequest"),
    "contentfulApi": NodeAuth(contentful, lambda c: "https://cdn.contentful.com",
                              "nodes/Contentful/GenericFunctions.js:contentfulApiRequest"),
    "demioApi": NodeAuth(
        _with_header(("Api-Key", _field("apiKey")), ("Api-Secret", _field("apiSecret"))),
        lambda c: "https://my.demio.com/api/v1", "nodes/Demio/GenericFunctions.js:demioApiRequest"),
    "discordWebhookApi": NodeAuth(discord_webhook, _webhook_root,
                                  "nodes/Discord/v2/transport/discord.api.js:discordApiRequest"),
}
