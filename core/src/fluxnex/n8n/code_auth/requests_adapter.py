"""A ``requests.PreparedRequest`` seen as n8n request options, authenticated by a code type, and back.

The request becomes ``{method, uri, qs, headers, body | form}`` (the HTTP Request node's shape): the query string
as ``qs``, a JSON body as an object, a form body as an object (``form`` for the AWS types, whose code signs
``form`` as n8n's AWS nodes send it), any other text body as a string. ``Content-Length`` is left out, as n8n's
options never hold it (the HTTP client adds it after signing); Azure Storage, whose signature covers it, is given
the body's length as n8n's Azure nodes give it, and ``s3`` its length and SHA-256 (its node signs the bytes sent).
What the type's code returns is applied as follows:

- headers it sets are set; headers of the request it does not return are kept (several n8n classes build a new
  headers object, which in n8n drops the node's other headers: the credential's own headers are the same, the
  caller's are not lost);
- a changed query, URL (AWS signs one with its query inside) or body replaces the request's; a body it removes
  (``discourseApi`` on GET) is removed; ``auth`` becomes HTTP Basic (UTF-8, as n8n sends it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fluxnex.n8n.code_auth._context import Context
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, text

if TYPE_CHECKING:
    import requests

_FORM_TYPES = frozenset({"aws", "awsAssumeRole"})
_BODY_SIGNED = frozenset({"aws", "awsAssumeRole"})
_LENGTH_SIGNED = frozenset({"azureStorageSharedKeyApi"})
#: signed over the body's own bytes: given their SHA-256 (``x-amz-content-sha256``, unless the caller set one) and
#: length, whatever the body is (text, JSON, binary)
_PAYLOAD_HASHED = frozenset({"s3"})
_NO_BODY = object()


def to_options(type_name: str, request: requests.PreparedRequest) -> tuple[Options, Any]:
    """The request as n8n options, and the original body (``_NO_BODY`` when the options carry all of it)."""
    parts = urlsplit(request.url or "")
    options: Options = {"method": (request.method or "GET").upper(),
                        "uri": urlunsplit(parts._replace(query="", fragment=""))}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if pairs:
        qs: dict[str, Any] = {}
        for key, value in pairs:
            existing = qs.get(key)
            qs[key] = value if existing is None else [*existing, value] if isinstance(existing, list) else [
                existing, value]
        options["qs"] = qs
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    options["headers"] = headers
    raw = request.body
    if raw is None or raw in (b"", ""):
        return options, _NO_BODY
    if not isinstance(raw, str | bytes):
        if type_name in _BODY_SIGNED or type_name in _PAYLOAD_HASHED:
            raise CodeAuthError(f"{type_name}: a streamed body cannot be signed; pass bytes or a string")
        return options, raw
    if type_name in _PAYLOAD_HASHED:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        if not any(k.lower() == "x-amz-content-sha256" for k in headers):
            headers["x-amz-content-sha256"] = hashlib.sha256(data).hexdigest()
        headers["content-length"] = str(len(data))
    try:
        body_text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        if type_name in _BODY_SIGNED:
            raise CodeAuthError(f"{type_name}: n8n signs the body as text; this body is not UTF-8") from None
        return options, raw
    if type_name in _LENGTH_SIGNED:
        headers["content-length"] = str(len(body_text.encode("utf-8")))
    content_type = str(headers.get("Content-Type") or headers.get("content-type") or "").lower()
    if "application/x-www-form-urlencoded" in content_type:
        options["form" if type_name in _FORM_TYPES else "body"] = dict(parse_qsl(body_text, keep_blank_values=True))
    elif "json" in content_type:
        try:
            options["body"] = json.loads(body_text)
            options["json"] = True
        except ValueError:
            options["body"] = body_text
    else:
        options["body"] = body_text
    return options, raw


def apply_options(request: requests.PreparedRequest, before: Options, after: Options, original_body: Any
                  ) -> requests.PreparedRequest:
    """Write what the type's code returned into ``request`` (see the module docstring)."""
    import requests.auth

    _apply_url(request, before, after)
    for key, value in (after.get("headers") or {}).items():
        if value is None:
            continue
        request.headers[str(key)] = value if isinstance(value, str) else text(value)
    _apply_body(request, before, after, original_body)
    auth = after.get("auth")
    if isinstance(auth, Mapping):
        user = auth.get("username", auth.get("user", ""))
        # UTF-8, as n8n's HTTP client encodes it (requests would encode a str as Latin-1)
        basic = requests.auth.HTTPBasicAuth(text(user).encode("utf-8"), text(auth.get("password", "")).encode("utf-8"))
        return basic(request)  # type: ignore[no-any-return]
    return request


def _apply_url(request: requests.PreparedRequest, before: Options, after: Options) -> None:
    url = after.get("url")
    if isinstance(url, str) and url != before.get("uri") and urlsplit(url).netloc:
        request.url = url  # AWS: the signed URL, query included
        return
    if after.get("qs") == before.get("qs"):
        return
    parts = urlsplit(request.url or "")
    pairs = [(k, text(x)) for k, v in (after.get("qs") or {}).items() for x in (v if isinstance(v, list) else [v])]
    query = urlencode(pairs)
    request.url = urlunsplit(parts._replace(query=query))


def _apply_body(request: requests.PreparedRequest, before: Options, after: Options, original: Any) -> None:
    for key in ("body", "form"):
        if after.get(key, _NO_BODY) == before.get(key, _NO_BODY):
            continue
        value = after.get(key, _NO_BODY)
        if value is _NO_BODY:
            if key == "body" and original is not _NO_BODY:
                request.body = None  # the type's code dropped it (a GET)
                request.headers.pop("Content-Length", None)
                request.headers.pop("Content-Type", None)
            continue
        content_type = str(request.headers.get("Content-Type", "")).lower()
        if isinstance(value, str):
            encoded = value
        elif key == "form" or "application/x-www-form-urlencoded" in content_type:
            encoded = urlencode([(k, text(v)) for k, v in value.items()])
            request.headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            request.headers.setdefault("Content-Type", "application/json")
        request.body = encoded.encode("utf-8")
        request.headers["Content-Length"] = str(len(request.body))
        return


def authenticate_request(type_name: str, credentials: Mapping[str, Any], request: requests.PreparedRequest,
                         ctx: Context) -> requests.PreparedRequest:
    """Authenticate ``request`` as n8n's code for ``type_name`` does (see :func:`fluxnex.n8n.code_auth.implemented`)."""
    from fluxnex.n8n.code_auth import authenticate_options

    before, original = to_options(type_name, request)
    after = authenticate_options(type_name, credentials, json.loads(json.dumps(before)), ctx)
    return apply_options(request, before, after, original)
