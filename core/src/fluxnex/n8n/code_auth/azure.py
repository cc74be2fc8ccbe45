"""Azure shared-key signatures: ``azureStorageSharedKeyApi`` (Storage SharedKey) and
``microsoftAzureCosmosDbSharedKeyApi`` (Cosmos DB master key).

Each restates the n8n class's ``authenticate`` (n8n-nodes-base 2.41.2) and the helpers it calls
(``nodes/Microsoft/Storage/GenericFunctions``, ``compare-header``): the string to sign, the .NET
culture-aware header order, the dates from the given clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any

from fluxnex.n8n.code_auth._context import AuthFunction, Context
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, get, joined_url, request_url, text, truthy
from fluxnex.n8n.code_auth._whatwg import decode_uri_component, encode_uri_component, node_base64, pathname
from fluxnex.n8n.expressions import UNDEFINED

X_MS_VERSION = "2021-12-02"
COSMOS_VERSION = "2018-12-31"
_CLOUDS = ("blob.core.windows.net", "blob.core.usgovcloudapi.net", "blob.core.chinacloudapi.cn")
_ACCOUNT = re.compile(r"[a-z0-9]+", re.IGNORECASE | re.ASCII)
#: n8n's switch for custom endpoints (``SecurityConfig.azureStorageCustomEndpoints``), read from the same variable.
CUSTOM_ENDPOINTS_ENV = "N8N_AZURE_STORAGE_CUSTOM_ENDPOINTS_ENABLED"
_SIGNED = ("content-language", "content-encoding", "content-length", "content-md5", "content-Type", "date",
           "if-Modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")
_RESOURCE_TYPES = ("dbs", "colls", "sprocs", "udfs", "triggers", "users", "permissions", "docs")

# .NET en-US sort keys of compare-header.js (index: character code; absent: 0 below 128, undefined above)
_LV0 = {33: 1820, 35: 1823, 36: 1825, 37: 1827, 38: 1829, 42: 1837, 43: 2051, 46: 1843, 94: 1859, 95: 1860,
        96: 1864, 124: 1868, 126: 1872, **{48 + i: w for i, w in enumerate(
            (3331, 3354, 3356, 3358, 3360, 3362, 3364, 3366, 3368, 3370))}}
_LETTERS = (3586, 3593, 3594, 3610, 3617, 3619, 3621, 3628, 3634, 3637, 3638, 3656, 3665, 3696, 3708, 3710, 3721,
            3722, 3729, 3737, 3743, 3746, 3748, 3750, 3751, 3753)
_LV0.update({65 + i: w for i, w in enumerate(_LETTERS)})
_LV0.update({97 + i: w for i, w in enumerate(_LETTERS)})
_LV2 = {65 + i: 18 for i in range(26)}
_LV4 = {39: 32786, 45: 33298}
_TABLES = (_LV0, _LV2, _LV4)


def _weight(table: dict[int, int], text_: str, index: int) -> int | None:
    if index >= len(text_):
        return 1
    code = ord(text_[index])
    if code >= 128:
        return None  # JavaScript reads past the table: undefined
    return table.get(code, 0)


def _is_less_than(lhs: str, rhs: str) -> bool:
    level = i = j = 0
    while level < len(_TABLES):
        if level == len(_TABLES) - 1 and i != j:
            return i > j
        w1, w2 = _weight(_TABLES[level], lhs, i), _weight(_TABLES[level], rhs, j)
        if w1 == 1 and w2 == 1:
            i = j = 0
            level += 1
        elif w1 == w2:
            i, j = i + 1, j + 1
        elif w1 == 0:
            i += 1
        elif w2 == 0:
            j += 1
        else:
            return w1 is not None and w2 is not None and w1 < w2
    return False


def _sorted_headers(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    import functools

    def compare(a: tuple[str, Any], b: tuple[str, Any]) -> int:
        return -1 if _is_less_than(a[0].lower(), b[0].lower()) else 1

    return sorted(items, key=functools.cmp_to_key(compare))  # both stable merge sorts, as V8's TimSort


def _assert_endpoint_allowed(c: Mapping[str, Any]) -> None:
    account = get(c, "account")
    if not _ACCOUNT.fullmatch("" if account is None or account is UNDEFINED else text(account)):
        raise CodeAuthError("The account name can contain only letters and numbers.")
    environment = get(c, "environment")
    environment = _CLOUDS[0] if environment is None or environment is UNDEFINED else environment
    if environment != "custom":
        if text(environment) not in _CLOUDS:
            raise CodeAuthError("Select an Azure cloud from the list.")
        return
    if os.environ.get(CUSTOM_ENDPOINTS_ENV, "").lower() != "true":
        raise CodeAuthError("Custom Azure Storage endpoints are disabled on this instance, contact your administrator.")
    custom = get(c, "customEndpoint")
    if not truthy(custom):
        raise CodeAuthError("Endpoint is required when Azure Cloud is set to Custom.")
    from urllib.parse import urlsplit

    parts = urlsplit(text(custom))
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment \
            or "@" in parts.netloc:
        raise CodeAuthError("Endpoint must be an https:// URL with only a hostname and an optional port, for example "
                            "https://myaccount.privatelink.blob.core.windows.net")


def storage_shared_key(c: Mapping[str, Any], o: Options, ctx: Context) -> Options:
    """``Authorization: SharedKey account:signature`` over Azure Storage's string to sign."""
    _assert_endpoint_allowed(c)
    o = copy(o)
    if o.get("method") is None:
        o["method"] = "GET"
    if o.get("headers") is None:
        o["headers"] = {}
    headers: dict[str, Any] = o["headers"]
    if headers.get("x-ms-version") is None:
        headers["x-ms-version"] = X_MS_VERSION
    if headers.get("x-ms-date") is None:
        headers["x-ms-date"] = formatdate(ctx.now, usegmt=True)
    lines = [text(o["method"]).upper()]
    lines += ["" if headers.get(name) is None else text(headers[name]) for name in _SIGNED]
    lines.append(_canonical_headers(headers) + _canonical_resource(o, c))
    key = node_base64(text(get(c, "key")))
    signature = base64.b64encode(hmac.new(key, "\n".join(lines).encode("utf-8"), hashlib.sha256).digest()).decode()
    headers["authorization"] = f"SharedKey {text(get(c, 'account'))}:{signature}"
    return o


def _canonical_headers(headers: Mapping[str, Any]) -> str:
    items = _sorted_headers([(k, v) for k, v in headers.items() if k.lower().startswith("x-ms-")])
    out, previous = [], None
    for name, value in items:
        if previous is not None and name.lower() == previous:
            continue
        previous = name.lower()
        if not isinstance(value, str):
            raise CodeAuthError(f"TypeError: the value of header {name} is not a string")
        out.append(f"{name.lower().rstrip()}:{value.lstrip()}\n")
    return "".join(out)


def _canonical_resource(o: Options, c: Mapping[str, Any]) -> str:
    resource = f"/{text(get(c, 'account'))}{pathname(joined_url(o))}"
    qs = o.get("qs")
    if isinstance(qs, Mapping) and qs:
        resource += "\n" + "\n".join(f"{k.lower()}:{decode_uri_component(text(qs[k]))}" for k in sorted(qs))
    return resource


def cosmos_db_shared_key(c: Mapping[str, Any], o: Options, ctx: Context) -> Options:
    """``authorization: type=master&ver=1.0&sig=...`` over the verb, resource type, resource id and date."""
    date = formatdate(ctx.now, usegmt=True)
    o = copy(o)
    o["headers"] = {**(o.get("headers") or {}), "x-ms-date": date, "x-ms-version": COSMOS_VERSION,
                    "Cache-Control": "no-cache"}
    uri = o.get("uri")
    url = uri if uri is not None else f"{text(get(o, 'baseURL'))}{text(get(o, 'url'))}"
    segments = [s for s in pathname(request_url({"url": url})).split("/") if s]
    found = [(t, len(segments) - 1 - segments[::-1].index(t)) for t in _RESOURCE_TYPES if t in segments]
    if not found:
        raise CodeAuthError("Unable to determine the resource type from the URL")
    kind, index = max(found, key=lambda f: f[1])
    if index + 1 < len(segments):
        resource_id = f"{'/'.join(segments[:index])}/{kind}/{segments[index + 1]}"
    else:
        resource_id = "/".join(segments[:index])
    method = text(o.get("method") if o.get("method") is not None else "GET")
    payload = f"{method.lower()}\n{kind.lower()}\n{resource_id}\n{date.lower()}\n\n"
    key = node_base64(text(get(c, "key")))
    signature = base64.b64encode(hmac.new(key, payload.encode("utf-8"), hashlib.sha256).digest()).decode()
    o["headers"]["authorization"] = encode_uri_component(f"type=master&ver=1.0&sig={signature}")
    return o


IMPLEMENTATIONS: dict[str, AuthFunction] = {
    "azureStorageSharedKeyApi": storage_shared_key,
    "microsoftAzureCosmosDbSharedKeyApi": cosmos_db_shared_key,
}
