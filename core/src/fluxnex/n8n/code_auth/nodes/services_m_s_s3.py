"""The S3 node (``s3``: S3-compatible endpoints; n8n-nodes-base 2.41.2 ``nodes/S3/GenericFunctions.js``
``s3ApiRequest``): AWS Signature Version 4 as the ``aws4`` library signs for ``service: 's3'``, with the credentials'
region and key pair.

The caller's URL is the node's: the endpoint, then the bucket as a host label or (``forcePathStyle``) the first path
segment, which the caller writes. The path is sent as ``uriEncodeS3Pathname`` encodes it (``%2F`` kept); the
signing itself is :func:`fluxnex.n8n.code_auth.aws.sign`'s, given ``aws4``'s set of unsigned headers. The payload
hash is the body's own bytes (the request adapter hashes them, binary bodies included); a body without a
``Content-Type`` gets aws4's default, which n8n sends too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fluxnex.n8n.code_auth import _aws_endpoints as ep
from fluxnex.n8n.code_auth._context import Context
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, get, request_url, text, truthy
from fluxnex.n8n.code_auth._whatwg import URL
from fluxnex.n8n.code_auth.aws import sign
from fluxnex.n8n.code_auth.nodes._entry import NodeAuth
from fluxnex.n8n.expressions import UNDEFINED

Creds = Mapping[str, Any]

#: ``aws4``'s HEADERS_TO_IGNORE
_AWS4_UNSIGNED = frozenset({"authorization", "connection", "x-amzn-trace-id", "user-agent", "expect",
                            "presigned-expires", "range"})
_DEFAULT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


def _endpoint(c: Creds) -> URL:
    endpoint = get(c, "endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith("http"):
        raise CodeAuthError("s3: HTTP(S) Scheme is required in endpoint definition")
    return URL(endpoint)


def s3_root(c: Creds) -> str:
    """The endpoint as the node joins a path to it (a bare ``/`` path dropped)."""
    url = _endpoint(c)
    return url.origin + ("" if url.pathname == "/" else url.pathname)


def _body_text(body: Any) -> str | None:
    if body is UNDEFINED or body is None or body == "":
        return None
    if isinstance(body, str):
        return body
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def s3(c: Creds, o: Options, ctx: Context) -> Options:
    """SigV4 (``aws4``, service ``s3``) over the request's method, host, encoded path, query, headers and payload."""
    _endpoint(c)
    o = copy(o)
    url = URL(request_url(o))
    wire_path = ep.s3_pathname(url.pathname, preserve_encoded_slashes=True)
    pairs = [(k, text(x)) for k, v in (o.get("qs") or {}).items() for x in (v if isinstance(v, list) else [v])]
    query = urlencode(pairs, quote_via=quote)
    headers = dict(o.get("headers") or {})
    lowered = {k.lower() for k in headers}
    content = _body_text(o.get("body", UNDEFINED))
    if content is not None and "x-amz-content-sha256" not in lowered:
        headers["x-amz-content-sha256"] = hashlib.sha256(content.encode("utf-8")).hexdigest()
    length = next((v for k, v in headers.items() if k.lower() == "content-length"), "0")
    if content is None and length not in ("0", 0) and "content-type" not in lowered:
        headers["content-type"] = _DEFAULT_TYPE  # a body the options do not hold (binary): aws4's default type
    o["headers"] = headers
    keys = {"accessKeyId": text(get(c, "accessKeyId")).strip(),
            "secretAccessKey": text(get(c, "secretAccessKey")).strip(),
            "sessionToken": text(get(c, "sessionToken")).strip() if truthy(get(c, "temporaryCredentials")) else None}
    region = get(c, "region")
    sign_opts = {"headers": headers, "host": url.host, "method": o.get("method", "GET"),
                 "path": f"{wire_path.replace('%2F', '/')}?{query}", "body": content or UNDEFINED,
                 "region": text(region) if truthy(region) else "us-east-1", "service": "s3"}
    signed_url = url.origin + wire_path + (f"?{query}" if query else "")
    out = sign(o, sign_opts, keys, signed_url, o.get("method", UNDEFINED), ctx.now,
               signable=lambda name: name not in _AWS4_UNSIGNED)
    if "body" in o:
        out["body"] = o["body"]  # the caller's body goes as it is: its hash is what was signed
    return out


NODES: dict[str, NodeAuth] = {
    "s3": NodeAuth(s3, s3_root, "nodes/S3/GenericFunctions.js:s3ApiRequest"),
}
