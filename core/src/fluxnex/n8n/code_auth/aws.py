"""AWS Signature Version 4 for the ``aws`` type, as n8n signs it (n8n-nodes-base 2.41.2,
``credentials/common/aws/utils``: the endpoint built from ``qs.service``/``qs.path``/``qs.query`` or the URL, then
``@smithy/signature-v4`` with S3's rules: payload hash header, no path re-encoding).

Written here rather than taken from botocore: n8n's canonical request is smithy's (header coercion, query
parsing, S3 path encoding, content-type/length injection), and matching it byte for byte is ~150 lines over
``hashlib``/``hmac``, where botocore would add a large dependency that canonicalises differently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from fluxnex.n8n.code_auth import _aws_endpoints as ep
from fluxnex.n8n.code_auth._context import AuthFunction, Context, TokenRequest
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, form_encode, get, text, truthy
from fluxnex.n8n.code_auth._whatwg import URL, parse_form
from fluxnex.n8n.expressions import UNDEFINED

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNSIGNABLE = frozenset({"authorization", "cache-control", "connection", "expect", "from", "keep-alive",
                         "max-forwards", "pragma", "referer", "te", "trailer", "transfer-encoding", "upgrade",
                         "user-agent", "x-amzn-trace-id"})
_CUSTOM_ENDPOINTS = {"lambda": "lambdaEndpoint", "sns": "snsEndpoint", "sqs": "sqsEndpoint", "s3": "s3Endpoint",
                     "ses": "sesEndpoint", "rekognition": "rekognitionEndpoint", "ssm": "ssmEndpoint"}


def _escape(value: str) -> str:
    """smithy's ``escapeUri``: ``encodeURIComponent`` with ``!'()*`` encoded too."""
    from urllib.parse import quote

    return quote(value, safe="-_.~")


def _js_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def prepare(o: Options, c: Mapping[str, Any], path: str, method: Any, service: Any, region: Any
            ) -> tuple[dict[str, Any], str]:
    """``awsGetSignInOptionsAndUpdateRequest``: (sign options, URL); mutates ``o`` as n8n does."""
    ep.assert_supported_region(region)
    body = o.get("body", UNDEFINED)
    qs = o.get("qs") if isinstance(o.get("qs"), dict) else None
    query = qs.get("query", UNDEFINED) if qs is not None else UNDEFINED
    if truthy(o.get("uri")):
        o["url"] = o["uri"]
        endpoint = URL(text(o["url"]))
        if service == "sts":
            if (qs or {}).get("Action") != "GetCallerIdentity":
                query = qs if qs is not None else UNDEFINED
            else:
                endpoint.set("Action", "GetCallerIdentity")
                endpoint.set("Version", "2011-06-15")
        else:
            query = qs if qs is not None else UNDEFINED
        service, region = ep.resolve_service_and_region(endpoint, service, region)
    elif not truthy(o.get("baseURL")) and not truthy(o.get("url")):
        field = _CUSTOM_ENDPOINTS.get(service) if isinstance(service, str) else None
        if field and truthy(get(c, field)):
            endpoint_string = text(get(c, field))
        elif truthy(service):
            endpoint_string = f"https://{text(service)}.{region}.{ep.aws_domain(region)}"
        else:
            raise CodeAuthError("TypeError: Cannot read properties of undefined (reading 'replace')")
        endpoint = URL(endpoint_string.replace("{region}", region, 1) + path)
    else:
        endpoint = URL(f"{text(o.get('baseURL', UNDEFINED))}{text(o.get('url', UNDEFINED))}{path}")
        service, region = ep.resolve_service_and_region(endpoint, service, region)
        if service == "bedrock" and truthy(get(c, "bedrockEndpoint")):
            override = URL(ep.validate_bedrock_override(text(get(c, "bedrockEndpoint")), region))
            endpoint.protocol, endpoint.host = override.protocol, override.host
            if override.pathname != "/":
                endpoint.pathname = re.sub(r"/+$", "", override.pathname) + endpoint.pathname
        if service == "sts":
            endpoint.set("Action", "GetCallerIdentity")
            endpoint.set("Version", "2011-06-15")
    if isinstance(query, dict) and query:
        for key, value in query.items():
            endpoint.append(key, text(value))
    if isinstance(body, dict | list) and not body:
        body = ""
    name = ep.signing_service(text(service))
    encoded_path = ep.s3_pathname(endpoint.pathname) if name == "s3" else endpoint.pathname
    full_path = encoded_path + endpoint.search
    content = UNDEFINED if body == "" else body
    raw_headers = o.get("headers")
    headers: dict[str, Any] = raw_headers if isinstance(raw_headers, dict) else {}
    if isinstance(content, dict | list) and "Content-Length" not in headers and "content-length" not in headers:
        content = _js_json(content)
    content_type = None
    if truthy(o.get("form")) and isinstance(o["form"], dict):
        content = form_encode([(k, text(v)) for k, v in o["form"].items()])
        content_type = "application/x-www-form-urlencoded"
    sign_headers = dict(headers)
    if content_type:
        sign_headers["content-type"] = content_type
    sign_opts = {**o, "headers": sign_headers, "host": endpoint.host, "method": method, "path": full_path,
                 "body": content, "region": region, "service": name}
    return sign_opts, endpoint.origin + full_path


def _header_text(value: Any) -> str:
    return ",".join(text(v) for v in value) if isinstance(value, list) else text(value)


def _smithy_signable(name: str) -> bool:
    return name not in _UNSIGNABLE and not name.startswith(("proxy-", "sec-"))


def sign(o: Options, sign_opts: dict[str, Any], keys: Mapping[str, Any], url: str, method: Any, now: float, *,
         signable: Callable[[str], bool] = _smithy_signable) -> Options:
    """``signOptions`` (the smithy signer): the request's headers replaced by the signed ones. ``signable`` says
    which (lower-case) header names are signed (smithy's rule unless given: the ``aws4`` library's differs)."""
    path_query = sign_opts["path"] or "/"
    path, _, raw_query = path_query.partition("?")
    query: dict[str, Any] = {}
    if "?" in path_query:
        for key, value in parse_form(raw_query):
            existing = query.get(key)
            query[key] = value if existing is None else ([*existing, value] if isinstance(existing, list)
                                                         else [existing, value])
    headers: dict[str, str] = {"host": sign_opts["host"]}
    for key, value in sign_opts["headers"].items():
        if key.lower() == "host" or value is None or value is UNDEFINED:
            continue
        headers[key.lower()] = _header_text(value)
    content = sign_opts["body"]
    if isinstance(content, str) and content:
        headers.setdefault("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        headers.setdefault("content-length", str(len(content.encode("utf-8"))))
    verb = text(sign_opts["method"] if sign_opts["method"] not in (None, UNDEFINED) else
                method if method not in (None, UNDEFINED) else "GET").upper()
    region, service = text(sign_opts["region"]), text(sign_opts["service"])
    is_s3 = service == "s3"
    stamp = dt.datetime.fromtimestamp(int(now), dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for generated in [k for k in headers if k in ("authorization", "x-amz-date", "date")]:
        del headers[generated]
    headers["x-amz-date"] = stamp
    if keys.get("sessionToken"):
        headers["x-amz-security-token"] = keys["sessionToken"]
    payload_hash = next((v for k, v in headers.items() if k == "x-amz-content-sha256"), None)
    if payload_hash is None:
        payload_hash = _EMPTY_SHA256 if content in (None, UNDEFINED) else (
            hashlib.sha256(content.encode("utf-8")).hexdigest() if isinstance(content, str) else "UNSIGNED-PAYLOAD")
        if is_s3:
            headers["x-amz-content-sha256"] = payload_hash
    canonical = {k: re.sub(r"\s+", " ", headers[k].strip()) for k in sorted(headers) if signable(k)}
    names = sorted(canonical)
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    canonical_request = "\n".join([verb, path if is_s3 else _canonical_path(path), _canonical_query(query),
                                   *(f"{n}:{canonical[n]}" for n in names), "", ";".join(names), payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    signing_key = ("AWS4" + text(keys["secretAccessKey"])).encode("utf-8")
    for part in (stamp[:8], region, service, "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={text(keys['accessKeyId'])}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    out = {**o, "headers": headers, "url": url}
    for key_name, value in (("method", method), ("body", content)):
        if value is UNDEFINED:
            out.pop(key_name, None)
        else:
            out[key_name] = value
    out.pop("qs", None)
    return out


def _canonical_path(path: str) -> str:
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    normalized = ("/" if path.startswith("/") else "") + "/".join(segments) + (
        "/" if segments and path.endswith("/") else "")
    return _escape(normalized).replace("%2F", "/")


def _canonical_query(query: Mapping[str, Any]) -> str:
    serialized: dict[str, str] = {}
    keys = []
    for key, value in query.items():
        if key.lower() == "x-amz-signature":
            continue
        encoded = _escape(key)
        keys.append(encoded)
        if isinstance(value, str):
            serialized[encoded] = f"{encoded}={_escape(value)}"
        elif isinstance(value, list):
            serialized[encoded] = "&".join(sorted(f"{encoded}={_escape(v)}" for v in value))
    return "&".join(serialized[k] for k in sorted(keys) if serialized.get(k))


def _service_path_region(o: Options, c: Mapping[str, Any]) -> tuple[Any, str, Any]:
    qs = o.get("qs") if isinstance(o.get("qs"), dict) else None
    service = qs.get("service", UNDEFINED) if qs is not None else UNDEFINED
    raw_path = qs.get("path") if qs is not None else None
    path = "" if raw_path is None or raw_path is UNDEFINED else text(raw_path)
    region = get(c, "region")
    if qs is not None and truthy(qs.get("_region")):
        region = qs.pop("_region")
    return service, path, region


def aws(c: Mapping[str, Any], o: Options, ctx: Context) -> Options:
    """SigV4 with the access key (and the session token of temporary credentials)."""
    o = copy(o)
    service, path, region = _service_path_region(o, c)
    method = o.get("method", UNDEFINED)
    sign_opts, url = prepare(o, c, path, method, service, region)
    keys = {"accessKeyId": text(get(c, "accessKeyId")).strip(),
            "secretAccessKey": text(get(c, "secretAccessKey")).strip(),
            "sessionToken": text(get(c, "sessionToken")).strip() if truthy(get(c, "temporaryCredentials")) else None}
    return sign(o, sign_opts, keys, url, method, ctx.now)


IMPLEMENTATIONS: dict[str, AuthFunction] = {"aws": aws}


SYSTEM_CREDENTIALS_ENV = "N8N_AWS_SYSTEM_CREDENTIALS_ACCESS_ENABLED"


def _trimmed(c: Mapping[str, Any], field: str) -> str:
    value = get(c, field)
    return value.strip() if isinstance(value, str) else ""


def _master_keys(c: Mapping[str, Any]) -> dict[str, Any]:
    """``buildMasterCredentials``: the STS key pair, or the environment's when system credentials are allowed."""
    import os

    if truthy(get(c, "useSystemCredentialsForRole")):
        if os.environ.get(SYSTEM_CREDENTIALS_ENV, "").lower() != "true":
            raise CodeAuthError("Failed to assume role: Access to AWS system credentials disabled, contact your "
                                "administrator.")
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            raise CodeAuthError("Failed to assume role: System AWS credentials are required for role assumption "
                                "(FluxNex reads them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).")
        return {"accessKeyId": key, "secretAccessKey": secret, "sessionToken": os.environ.get("AWS_SESSION_TOKEN")}
    key, secret = _trimmed(c, "stsAccessKeyId"), _trimmed(c, "stsSecretAccessKey")
    token = _trimmed(c, "stsSessionToken")
    if not key:
        raise CodeAuthError("Failed to assume role: STS Access Key ID is required when not using system credentials.")
    if not secret:
        raise CodeAuthError("Failed to assume role: STS Secret Access Key is required when not using system "
                            "credentials.")
    return {"accessKeyId": key, "secretAccessKey": secret, "sessionToken": token or None}


def assume_role_request(c: Mapping[str, Any], region: Any, now: float) -> TokenRequest:
    """The STS ``AssumeRole`` call n8n makes through the AWS SDK, signed with the master credentials."""
    import hashlib as _hashlib

    if not isinstance(region, str) or region not in ep.REGIONS:
        raise CodeAuthError("Failed to assume role: Unsupported AWS region")
    role_arn = _trimmed(c, "roleArn")
    if not role_arn:
        raise CodeAuthError("Failed to assume role: Role ARN is required when assuming a role.")
    external_id = _trimmed(c, "externalId")
    session_name = _trimmed(c, "roleSessionName") or "n8n-session"
    master = _master_keys(c)
    form = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn, "RoleSessionName": session_name}
    if external_id:
        form["ExternalId"] = external_id
    options: Options = {"method": "POST", "uri": f"https://sts.{region}.{ep.aws_domain(region)}/", "form": form,
                        "headers": {"Accept": "text/xml"}}
    sign_opts, url = prepare(options, c, "", "POST", "sts", region)
    signed = sign(options, sign_opts, master, url, "POST", now)
    identity = "\x00".join([region, role_arn, external_id, session_name, master["accessKeyId"],
                            master["secretAccessKey"], master["sessionToken"] or ""])
    return TokenRequest(url=signed["url"], body=signed["body"],
                        headers={k: v for k, v in signed["headers"].items() if k != "host"}, purpose="awsAssumeRole",
                        cache_key="sts:" + _hashlib.sha256(identity.encode("utf-8")).hexdigest(), answer="aws_sts")


def aws_assume_role(c: Mapping[str, Any], o: Options, ctx: Context) -> Options:
    """SigV4 with the temporary credentials of the assumed role (STS ``AssumeRole``, fetched by the context)."""
    o = copy(o)
    service, path, region = _service_path_region(o, c)
    method = o.get("method", UNDEFINED)
    if ctx.fetch_token is None:
        raise CodeAuthError("awsAssumeRole: assuming the role needs a token fetcher")
    answer = ctx.fetch_token(assume_role_request(c, region, ctx.now))
    keys = {"accessKeyId": answer.get("AccessKeyId"), "secretAccessKey": answer.get("SecretAccessKey"),
            "sessionToken": answer.get("SessionToken") or ""}
    if not isinstance(keys["accessKeyId"], str) or not isinstance(keys["secretAccessKey"], str):
        raise CodeAuthError("Failed to assume role: STS answered without credentials")
    sign_opts, url = prepare(o, {**c, **keys}, path, method, service, region)
    return sign(o, sign_opts, {**keys, "sessionToken": keys["sessionToken"] or None}, url, method, ctx.now)


IMPLEMENTATIONS["awsAssumeRole"] = aws_assume_role
