"""Cases for :mod:`fluxnex.n8n.code_auth.nodes.services_a_d`."""

from __future__ import annotations

from typing import Any

from n8n_engine.node_cases import NodeCall, TypeCases, call, shapes

G = "GenericFunctions.js"


def _shapes(source: str, path: str = "/items", **kwargs: Any) -> list[NodeCall]:
    """:func:`shapes` at ``path`` with the node parameters (``params=``...) of every call, and a PUT with a
    body and a query."""
    return [call(source, "GET", path, qs={"limit": 10, "q": "a b"}, **kwargs),
            call(source, "POST", path, {"name": "n", "nested": {"x": [1, 2]}}, **kwargs),
            call(source, "PUT", f"{path}/1", {"name": "ü"}, {"force": True}, **kwargs),
            call(source, "DELETE", f"{path}/1", **kwargs)]


def _node(source: str, args: list[Any], method: str, path: str, qs: dict[str, Any] | None = None,
          body: Any = None, **kwargs: Any) -> NodeCall:
    """A call of ``source`` with its own ``args``; FluxNex is given ``method``, ``path``, ``qs`` and ``body``."""
    module, _, function = source.partition(":")
    return NodeCall(module, function, args, method, path, dict(qs or {}), body, **kwargs)


def _paged(source: str, url: str, **kwargs: Any) -> NodeCall:
    """A next-page request: the node is given a full ``uri`` (after ``body`` and ``qs``), FluxNex the same URL."""
    return _node(source, ["GET", "/ignored", {}, {}, url], "GET", url, **kwargs)


def _execute(source: str, params: dict[str, Any], method: str, path: str, qs: dict[str, Any] | None = None,
             body: Any = None, responses: list[Any] | None = None) -> NodeCall:
    """A node whose ``execute`` builds the request itself, run on one item with ``params``."""
    return _node(source, [], method, path, qs, body, params=params, responses=list(responses or []))


ACUITY = f"nodes/AcuityScheduling/{G}:acuitySchedulingApiRequest"
AGILE = f"nodes/AgileCrm/{G}:agileCrmApiRequest"
BAMBOO = "nodes/BambooHr/v1/transport/index.js:apiRequest"
BITBUCKET = f"nodes/Bitbucket/{G}:bitbucketApiRequest"
BITLY = f"nodes/Bitly/{G}:bitlyApiRequest"
BITWARDEN = "nodes/Bitwarden/Bitwarden.node.js:Bitwarden#execute"
CHARGEBEE = "nodes/Chargebee/Chargebee.node.js:Chargebee#execute"
COCKPIT = f"nodes/Cockpit/{G}:cockpitApiRequest"
CODA = f"nodes/Coda/{G}:codaApiRequest"
CONTENTFUL = f"nodes/Contentful/{G}:contentfulApiRequest"
DISCORD = "nodes/Discord/v2/transport/discord.api.js:discordApiRequest"

TOKEN = {"access_token": "bw-token-1", "expires_in": 3600, "token_type": "Bearer"}


def _bitwarden() -> list[NodeCall]:
    def run(params: dict[str, Any], *args: Any, answer: Any = None) -> NodeCall:
        return _execute(BITWARDEN, params, *args, responses=[TOKEN, answer or {}])

    return [
        run({"resource": "collection", "operation": "delete", "collectionId": "c1"}, "DELETE",
            "/public/collections/c1"),
        run({"resource": "event", "operation": "getAll", "returnAll": True,
             "filters": {"start": "2026-01-01", "actingUserId": "u 1"}}, "GET", "/public/events",
            {"start": "2026-01-01", "actingUserId": "u 1"}, answer={"data": []}),
        run({"resource": "group", "operation": "create", "name": "Ops", "accessAll": False,
             "additionalFields": {"externalId": "e1"}}, "POST", "/public/groups", None,
            {"name": "Ops", "AccessAll": False, "externalId": "e1"}),
        _node("nodes/Bitwarden/GenericFunctions.js:loadResource", ["members"], "GET", "/public/members",
              responses=[TOKEN, {"data": []}]),
    ]


def _chargebee() -> list[NodeCall]:
    return [
        _execute(CHARGEBEE, {"resource": "customer", "operation": "create",
                             "properties": {"first_name": "Zoë", "email": "z@example.com"}},
                 "POST", "customers", {"first_name": "Zoë", "email": "z@example.com"}),
        _execute(CHARGEBEE, {"resource": "invoice", "operation": "list", "maxResults": 5}, "GET", "invoices",
                 {"sort_by[desc]": "date", "limit": 5}, responses=[{"list": []}]),
        _execute(CHARGEBEE, {"resource": "subscription", "operation": "cancel", "subscriptionId": " sub_1 ",
                             "endOfTerm": True}, "POST", "subscriptions/sub_1/cancel", None, {"end_of_term": True}),
        _execute(CHARGEBEE, {"resource": "invoice", "operation": "pdfUrl", "invoiceId": "inv_9"}, "POST",
                 "invoices/inv_9/pdf", responses=[{"download": {"download_url": "https://x/y.pdf"}}]),
    ]


def _cockpit() -> list[NodeCall]:
    return [_node(COCKPIT, ["GET", "/collections/listCollections", {}], "GET", "/collections/listCollections"),
            _node(COCKPIT, ["POST", "/collections/get/posts", {"filter": {"published": True}}], "POST",
                  "/collections/get/posts", body={"filter": {"published": True}}),
            _node(COCKPIT, ["GET", "/singletons/get/home"], "GET", "/singletons/get/home")]


def _contentful() -> list[NodeCall]:
    preview = {"source": "previewApi"}
    delivery = {"source": "deliveryApi"}
    path = "/spaces/sp1/environments/master/entries"
    return [*_shapes(CONTENTFUL, path, params=delivery),
            _node(CONTENTFUL, ["GET", path, {}, {"limit": 3}], "GET", f"https://preview.contentful.com{path}",
                  {"limit": 3}, params=preview),
            _node(CONTENTFUL, ["GET", "/spaces/sp1", {}, {}], "GET", "https://preview.contentful.com/spaces/sp1",
                  params=preview)]


def _discord() -> list[NodeCall]:
    hook = {"authentication": "webhook"}
    body = {"content": "héllo", "embeds": [{"title": "t"}]}
    return [_node(DISCORD, ["POST", "", body, {"wait": True}], "POST", "", {"wait": True}, body, params=hook),
            _node(DISCORD, ["POST", "", {"content": "x"}, {}], "POST", "", body={"content": "x"}),
            _node(DISCORD, ["POST", "/channels/1/messages", body, {"wait": True}], "POST",
                  "https://discord.com/api/v10/channels/1/messages", {"wait": True}, body, params=hook)]


BASIC_VARIANTS = [{"userId": "123", "apiKey": "k3y"}, {"userId": "ü", "apiKey": "é:x"}, {}]

CASES = {
    "acuitySchedulingApi": TypeCases(
        [*_shapes(ACUITY, "/appointments", params={"authentication": "apiKey"}),
         _paged(ACUITY, "https://acuityscheduling.com/api/v1/calendars?max=2", params={"authentication": "apiKey"})],
        BASIC_VARIANTS),
    "agileCrmApi": TypeCases(
        [*_shapes(AGILE, "api/contacts"), call(AGILE, "GET", "api/contacts/1"),
         _paged(AGILE, "https://acme.agilecrm.com/dev/api/tags")],
        [{"email": "a@example.com", "apiKey": "k3y", "subdomain": "acme"},
         {"email": "ü@example.com", "apiKey": "é:x", "subdomain": "acme"}]),
    "autopilotApi": TypeCases(shapes(f"nodes/Autopilot/{G}:autopilotApiRequest"), [{"apiKey": "k3y"}, {"apiKey": ""}]),
    "bambooHrApi": TypeCases(_shapes(BAMBOO, "employees/directory"),
                             [{"subdomain": "acme", "apiKey": "k3y"}, {"subdomain": "acme", "apiKey": "é:x"}]),
    "bannerbearApi": TypeCases(shapes(f"nodes/Bannerbear/{G}:bannerbearApiRequest"), [{"apiKey": "bb_pr_k3y"}]),
    "bitbucketApi": TypeCases(
        [*_shapes(BITBUCKET, "/repositories/ws", params={"authentication": "password"}),
         *shapes(BITBUCKET),
         _paged(BITBUCKET, "https://api.bitbucket.org/2.0/workspaces?page=2", params={"authentication": "password"})],
        [{"username": "u", "appPassword": "p4ss"}, {"username": "ü@x", "appPassword": "p:ä"}]),
    "bitlyApi": TypeCases([*_shapes(BITLY, "/bitlinks", params={"authentication": "accessToken"}),
                           _paged(BITLY, "https://api-ssl.bitly.com/v4/groups?size=50",
                                  params={"authentication": "accessToken"})],
                          [{"accessToken": "t0k"}]),
    "bitwardenApi": TypeCases(
        _bitwarden(),
        [{"clientId": "organization.1", "clientSecret": "s3c", "environment": "cloudHosted"},
         {"clientId": "organization.2", "clientSecret": "é s", "environment": "selfHosted",
          "domain": "https://vault.example.com"},
         {"clientId": "organization.3", "clientSecret": "s", "environment": "selfHosted",
          "domain": "https://vault.example.com/"}]),
    "bubbleApi": TypeCases(
        _shapes(f"nodes/Bubble/{G}:bubbleApiRequest", "/obj/user"),
        [{"apiToken": "t0k", "appName": "myapp"},
         {"apiToken": "t0k", "appName": "myapp", "environment": "development"},
         {"apiToken": "t0k", "hosting": "selfHosted", "domain": "https://apps.example.com"},
         {"apiToken": "t0k", "hosting": "selfHosted", "environment": "development", "domain": "https://a.example/"}]),
    "chargebeeApi": TypeCases(_chargebee(), [{"accountName": "acme", "apiKey": "test_k3y"},
                                             {"accountName": "acme-test", "apiKey": "é"}]),
    "circleCiApi": TypeCases([*shapes(f"nodes/CircleCi/{G}:circleciApiRequest")], [{"apiKey": "k3y"}]),
    "cockpitApi": TypeCases(_cockpit(), [{"url": "https://cms.example.com", "accessToken": "t0k"},
                                         {"url": "https://cms.example.com/", "accessToken": "ä b"}]),
    "codaApi": TypeCases([*_shapes(CODA, "/docs"), _paged(CODA, "https://coda.io/apis/v1/docs?pageToken=x")],
                         [{"accessToken": "t0k"}]),
    "contentfulApi": TypeCases(
        _contentful(),
        [{"spaceId": "sp1", "ContentDeliveryaccessToken": "d3l", "ContentPreviewaccessToken": "pr3"},
         {"spaceId": "sp1", "ContentDeliveryaccessToken": "d é", "ContentPreviewaccessToken": ""}]),
    "demioApi": TypeCases(shapes(f"nodes/Demio/{G}:demioApiRequest"), [{"apiKey": "k3y", "apiSecret": "s3c"}]),
    "discordWebhookApi": TypeCases(
        _discord(),
        [{"webhookUri": "https://discord.com/api/webhooks/1/abc"},
         {"webhookUri": "https://discord.com/api/webhooks/1/abc?thread_id=9"}]),
}
