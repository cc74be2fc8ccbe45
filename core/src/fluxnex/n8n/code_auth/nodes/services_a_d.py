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

from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from fluxnex.n8n.code_auth._context import Context, TokenRequest, cache_key, fetch_token_field
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, form_encode, get, hostname, text
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.code_auth.nodes._parts import (
    FORM,
    Creds,
    bearer,
    bearer_auth,
    field,
    with_basic,
    with_headers,
    with_query,
)
from fluxnex.n8n.expressions import UNDEFINED


def cockpit(c: Creds, o: Options, _: Context) -> Options:
    """``qs: {token: accessToken}`` (the node's only query)."""
    return with_query(("token", field("accessToken")))(c, o, _)


def contentful(c: Creds, o: Options, _: Context) -> Options:
    """``qs.access_token``: the preview token for ``preview.contentful.com`` (the node's ``source: previewApi``),
    else the delivery token."""
    preview = hostname(text(o.get("uri") or o.get("url") or "")) == "preview.contentful.com"
    token = field("ContentPreviewaccessToken" if preview else "ContentDeliveryaccessToken")
    return with_query(("access_token", token))(c, o, _)


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
    identity = cache_key("bitwardenApi", url, get(c, "clientId"), get(c, "clientSecret"))
    token = fetch_token_field(ctx, TokenRequest(url=url, body=body, headers={"Content-Type": FORM},
                                          purpose="bitwardenApi", cache_key=identity))
    return bearer_auth(o, token)


def _bubble_root(c: Creds) -> str:
    root = f"https://{text(get(c, 'appName'))}.bubbleapps.io" if get(c, "hosting") == "bubbleHosted" else text(
        get(c, "domain"))
    return root + ("/version-test/api/1.1" if get(c, "environment") == "development" else "/api/1.1")


NODES: dict[str, NodeAuth] = {
    "acuitySchedulingApi": NodeAuth(
        with_basic(field("userId"), field("apiKey")), lambda c: "https://acuityscheduling.com/api/v1",
        "nodes/AcuityScheduling/GenericFunctions.js:acuitySchedulingApiRequest"),
    "agileCrmApi": NodeAuth(
        with_basic(field("email"), field("apiKey")),
        lambda c: f"https://{text(get(c, 'subdomain'))}.agilecrm.com/dev/",
        "nodes/AgileCrm/GenericFunctions.js:agileCrmApiRequest"),
    "autopilotApi": NodeAuth(
        with_headers(("autopilotapikey", field("apiKey"))), lambda c: "https://api2.autopilothq.com/v1",
        "nodes/Autopilot/GenericFunctions.js:autopilotApiRequest"),
    "bambooHrApi": NodeAuth(
        with_basic(field("apiKey"), lambda c: "x"),
        lambda c: f"https://api.bamboohr.com/api/gateway.php/{text(get(c, 'subdomain'))}/v1/",
        "nodes/BambooHr/v1/transport/index.js:apiRequest"),
    "bannerbearApi": NodeAuth(
        with_headers(("Authorization", bearer("apiKey"))), lambda c: "https://api.bannerbear.com/v2",
        "nodes/Bannerbear/GenericFunctions.js:bannerbearApiRequest"),
    "bitbucketApi": NodeAuth(
        with_basic(field("username"), field("appPassword")), lambda c: "https://api.bitbucket.org/2.0",
        "nodes/Bitbucket/GenericFunctions.js:bitbucketApiRequest"),
    "bitlyApi": NodeAuth(
        with_headers(("Authorization", bearer("accessToken"))), lambda c: "https://api-ssl.bitly.com/v4",
        "nodes/Bitly/GenericFunctions.js:bitlyApiRequest"),
    "bitwardenApi": NodeAuth(bitwarden, lambda c: _bitwarden_root(c, "https://api.bitwarden.com", "/api"),
                             "nodes/Bitwarden/Bitwarden.node.js:Bitwarden#execute"),
    "bubbleApi": NodeAuth(with_headers(("Authorization", bearer("apiToken"))), _bubble_root,
                          "nodes/Bubble/GenericFunctions.js:bubbleApiRequest"),
    "chargebeeApi": NodeAuth(
        with_basic(field("apiKey"), lambda c: ""),
        lambda c: f"https://{text(get(c, 'accountName'))}.chargebee.com/api/v2/",
        "nodes/Chargebee/Chargebee.node.js:Chargebee#execute"),
    "circleCiApi": NodeAuth(
        with_headers(("Circle-Token", field("apiKey"))), lambda c: "https://circleci.com/api/v2",
        "nodes/CircleCi/GenericFunctions.js:circleciApiRequest"),
    "cockpitApi": NodeAuth(cockpit, lambda c: f"{text(get(c, 'url'))}/api",
                           "nodes/Cockpit/GenericFunctions.js:cockpitApiRequest"),
    "codaApi": NodeAuth(
        with_headers(("Authorization", bearer("accessToken"))), lambda c: "https://coda.io/apis/v1",
        "nodes/Coda/GenericFunctions.js:codaApiRequest"),
    "contentfulApi": NodeAuth(contentful, lambda c: "https://cdn.contentful.com",
                              "nodes/Contentful/GenericFunctions.js:contentfulApiRequest"),
    "demioApi": NodeAuth(
        with_headers(("Api-Key", field("apiKey")), ("Api-Secret", field("apiSecret"))),
        lambda c: "https://my.demio.com/api/v1", "nodes/Demio/GenericFunctions.js:demioApiRequest"),
    "discordWebhookApi": NodeAuth(discord_webhook, _webhook_root,
                                  "nodes/Discord/v2/transport/discord.api.js:discordApiRequest"),
}
