"""Types whose code looks at the request (host, path, method, body) to decide where the credential goes.

Each function restates one n8n class's ``authenticate`` (n8n-nodes-base 2.41.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth._context import AuthFunction, Context
from fluxnex.n8n.code_auth._js import (
    CodeAuthError,
    Options,
    basic,
    copy,
    get,
    headers_of,
    hostname,
    joined_url,
    pathname,
    put,
    request_url,
    text,
    truthy,
)

Creds = Mapping[str, Any]

_TRACK_HOSTS = frozenset({"track.customer.io", "track-eu.customer.io"})
_APP_HOSTS = frozenset({"api.customer.io", "api-eu.customer.io", "beta-api.customer.io", "beta-api-eu.customer.io"})


def convert_kit(c: Creds, o: Options, _: Context) -> Options:
    """The API secret goes into the body of webhook calls (``/automations/hooks``), else into the query."""
    o = copy(o)
    url = joined_url(o)
    part = "body" if "/automations/hooks" in url else "qs"
    if not truthy(o.get(part)):
        o[part] = {}
    if isinstance(o[part], dict):
        put(o[part], "api_secret", get(c, "apiSecret"))
    return o


def customer_io(c: Creds, o: Options, _: Context) -> Options:
    """Basic (site id, tracking key) on the tracking hosts, the App API key as a Bearer on the API hosts."""
    o = copy(o)
    host = hostname(request_url(o))
    if host in _TRACK_HOSTS:
        value = basic(get(c, "trackingSiteId"), get(c, "trackingApiKey"))
    elif host in _APP_HOSTS:
        value = f"Bearer {text(get(c, 'appApiKey'))}"
    else:
        raise CodeAuthError(f"customerIoApi: unknown way of authenticating requests to {host!r}")
    headers_of(o, "customerIoApi")["Authorization"] = value
    return o


def _mindee(name: str) -> AuthFunction:
    def apply(c: Creds, o: Options, _: Context) -> Options:
        """``Token`` Authorization on api.mindee.net's v1 API, ``X-Inferuser-Token`` elsewhere."""
        o = copy(o)
        url = request_url(o)
        headers = headers_of(o, name)
        if hostname(url) == "api.mindee.net" and pathname(url).startswith("/v1/"):
            headers["Authorization"] = f"Token {text(get(c, 'apiKey'))}"
        else:
            headers["X-Inferuser-Token"] = text(get(c, "apiKey"))
        return o

    return apply


def pushover(c: Creds, o: Options, _: Context) -> Options:
    """The token joins the query of a GET that has one, else an object body."""
    o = copy(o)
    if o.get("method") == "GET" and truthy(o.get("qs")):
        if isinstance(o["qs"], dict):
            put(o["qs"], "token", get(c, "apiKey"))
    elif truthy(o.get("body")) and isinstance(o["body"], dict):
        put(o["body"], "token", get(c, "apiKey"))
    return o


def woo_commerce(c: Creds, o: Options, _: Context) -> Options:
    """Basic auth, or the key and secret in the query when asked for and the request has a query."""
    o = copy(o)
    o["auth"] = {}
    put(o["auth"], "user", get(c, "consumerKey"))
    put(o["auth"], "password", get(c, "consumerSecret"))
    if get(c, "includeCredentialsInQuery") is True and truthy(o.get("qs")):
        del o["auth"]
        if isinstance(o["qs"], dict):
            put(o["qs"], "consumer_key", get(c, "consumerKey"))
            put(o["qs"], "consumer_secret", get(c, "consumerSecret"))
    return o


IMPLEMENTATIONS: dict[str, AuthFunction] = {
    "convertKitApi": convert_kit,
    "customerIoApi": customer_io,
    "mindeeInvoiceApi": _mindee("mindeeInvoiceApi"),
    "mindeeReceiptApi": _mindee("mindeeReceiptApi"),
    "pushoverApi": pushover,
    "wooCommerceApi": woo_commerce,
}
