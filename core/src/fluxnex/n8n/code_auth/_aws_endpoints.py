"""How n8n reads an AWS endpoint (``credentials/common/aws/utils`` and ``regions``, n8n-nodes-base 2.41.2):
the supported regions, the service and region a host names, the SigV4 signing name, S3's path encoding."""

from __future__ import annotations

import re
from typing import Any

from fluxnex.n8n.code_auth._js import CodeAuthError
from fluxnex.n8n.code_auth._whatwg import URL, decode_uri_component, encode_uri_component

REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
    "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1", "eu-central-1",
    "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
    "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-gov-east-1",
    "us-west-1", "us-west-2", "us-gov-west-1",
)
_SUPPORTED = frozenset(REGIONS)
_CHINA = frozenset({"cn-north-1", "cn-northwest-1"})
REGION_SHAPE = re.compile(r"[a-z]{2,4}(-[a-z]+)+-\d+", re.ASCII)
_VPCE = re.compile(r"vpce-[^.]+\.([^.]+)\.([^.]+)\.vpce\.amazonaws\.com(?:\.cn)?", re.ASCII)
_AWS_HOST = re.compile(r".*\.amazonaws\.com(\.cn)?", re.IGNORECASE | re.DOTALL)
_S3_FAMILY = re.compile(r"(^|\.)s3(-accesspoint|-control|-accelerate)?\Z", re.ASCII)
_BEDROCK = frozenset({"bedrock-runtime", "bedrock-agent", "bedrock-agent-runtime", "bedrock-data-automation",
                      "bedrock-data-automation-runtime"})
_ESCAPE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def aws_domain(region: str) -> str:
    return "amazonaws.com.cn" if region in _CHINA else "amazonaws.com"


def assert_supported_region(region: Any) -> None:
    if not isinstance(region, str) or region not in _SUPPORTED:
        raise CodeAuthError("Unsupported AWS region")


def is_aws_host(hostname: str) -> bool:
    return _AWS_HOST.fullmatch(hostname) is not None


def signing_service(service: str) -> str:
    """``getAwsSigningService``: FIPS suffix dropped, the S3 family as ``s3``, Bedrock, SQS and SES names."""
    base = re.sub(r"-fips\Z", "", service)
    if _S3_FAMILY.search(base):
        return "s3"
    if base in _BEDROCK:
        return "bedrock"
    return {"queue": "sqs", "email": "ses"}.get(base, base)


def _legacy_s3_dash_region(label: str) -> str | None:
    if not label.startswith("s3-"):
        return None
    rest = label[3:]
    return rest if REGION_SHAPE.fullmatch(rest) else None


def parse_aws_url(url: URL) -> tuple[str, str | None]:
    """``parseAwsUrl``: (service, region or None) from the host's labels."""
    hostname = url.hostname
    vpce = _VPCE.fullmatch(hostname)
    if vpce:
        return vpce.group(1), vpce.group(2)
    labels = re.sub(r"\.amazonaws\.com.*$", "", hostname, flags=re.DOTALL).split(".")
    region_idx = next((i for i in range(len(labels) - 1, -1, -1) if REGION_SHAPE.fullmatch(labels[i])), -1)
    region = None if region_idx == -1 else labels[region_idx]
    service = labels[0]
    if region_idx != -1 and region_idx == len(labels) - 2 and is_aws_host(hostname) \
            and labels[region_idx + 1] != "vpce":
        following = labels[region_idx + 1]
        if region_idx == 0:
            if following in ("s3", "s3-accelerate"):
                return following, None
            dash = _legacy_s3_dash_region(following)
            if dash:
                return "s3", dash
        service = following
    elif region_idx >= 2:
        index = region_idx - 1
        if labels[index] == "dualstack":
            index -= 1
        service = labels[index]
    elif region_idx == -1:
        index = len(labels) - 1
        if labels[index] == "dualstack" and index > 0:
            index -= 1
        candidate = labels[index]
        dash = _legacy_s3_dash_region(candidate)
        if dash:
            return "s3", dash
        if index > 0 and candidate in ("s3", "s3-accelerate"):
            service = candidate
    return service, region


def resolve_service_and_region(url: URL, service: Any, region: str) -> tuple[Any, str]:
    """``resolveServiceAndRegion``: the caller's service wins; a supported region in the host wins."""
    parsed_service, parsed_region = parse_aws_url(url)
    resolved_service = service if service else parsed_service
    if parsed_region:
        if parsed_region in _SUPPORTED:
            region = parsed_region
        elif is_aws_host(url.hostname):
            raise CodeAuthError(f'Unsupported AWS region "{parsed_region}" parsed from endpoint host {url.hostname}')
    return resolved_service, region


def validate_bedrock_override(override: str, region: str) -> str:
    assert_supported_region(region)
    resolved = override.replace("{region}", region)
    try:
        url = URL(resolved)
    except CodeAuthError:
        raise CodeAuthError("Bedrock endpoint is not a valid URL") from None
    if url.protocol not in ("http:", "https:"):
        raise CodeAuthError("Bedrock endpoint must use the http or https scheme")
    return re.sub(r"/$", "", url.origin + url.pathname + url.search)


def _decode_run(match: re.Match[str]) -> str:
    try:
        return decode_uri_component(match.group(0))
    except CodeAuthError:
        return match.group(0)


def s3_pathname(path: str, *, preserve_encoded_slashes: bool = False) -> str:
    """``uriEncodeS3Pathname``: each segment decoded then strictly encoded; ``%2F`` back to ``/`` unless
    ``preserve_encoded_slashes``."""
    encoded = "/".join(
        re.sub(r"[!'()*]", lambda m: f"%{ord(m.group(0)):X}", encode_uri_component(_ESCAPE_RUN.sub(_decode_run, s)))
        for s in path.split("/"))
    return encoded if preserve_encoded_slashes else encoded.replace("%2F", "/")
