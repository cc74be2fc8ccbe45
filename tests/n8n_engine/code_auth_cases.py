"""Credentials and request shapes for the code-authenticated differential test."""

from __future__ import annotations

import base64
import functools
from typing import Any

#: n8n-nodes-base 2.41.2's classes whose ``authenticate`` is a method, less those n8n pre-authenticates
#: (``atlassianServiceAccountApi``, ``microsoftEntraServicePrincipalApi``, ``salesforceJwtApi`` also have one).
CODE_AUTHENTICATED = (
    "actionNetworkApi", "aws", "awsAssumeRole", "azureStorageSharedKeyApi", "bitbucketAccessTokenApi",
    "calendlyApi", "ciscoSecureEndpointApi", "convertKitApi", "customerIoApi", "datadogApi", "discourseApi",
    "elasticSecurityApi", "ghostAdminApi", "ghostContentApi", "googleApi", "httpMultipleHeadersAuth",
    "httpTemplatedCustomAuth", "invoiceNinjaApi", "lemlistApi", "mailerLiteApi", "microsoftAzureCosmosDbSharedKeyApi",
    "mindeeInvoiceApi", "mindeeReceiptApi", "nextCloudApi", "notionApi", "openAiApi", "pushoverApi",
    "schemaRegistryApi", "segmentApi", "shopifyApi", "trelloApi", "uprocApi", "wooCommerceApi", "zendeskApi",
)


@functools.cache
def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


_KEY64 = base64.b64encode(bytes(range(32))).decode()

#: Values that must have a shape for the code to do anything (merged over the generated ones).
_SAMPLES: dict[str, list[dict[str, Any]]] = {
    "ghostAdminApi": [{"apiKey": "6489c1a1f3:a1b2c3d4e5f60718293a4b5c6d7e8f90"}, {"apiKey": "id:0fzz"},
                      {"apiKey": "no-colon"}],
    "googleApi": [{"httpNode": True, "email": " sa@p.iam.gserviceaccount.com ", "scopes": "a, b\\nc  d",
                   "privateKey": "PEM-ESCAPED"},
                  {"httpNode": True, "email": "sa@p.iam", "delegatedEmail": "me@x.io", "scopes": "s",
                   "privateKey": "PEM"}],
    "invoiceNinjaApi": [{"apiToken": "t" * 64, "secret": "s"}, {"apiToken": "t" * 63}, {"apiToken": "é" * 64}],
    "azureStorageSharedKeyApi": [{"account": "acct", "key": _KEY64}],
    "microsoftAzureCosmosDbSharedKeyApi": [{"account": "acct", "key": _KEY64, "database": "db1"}],
    "httpMultipleHeadersAuth": [{"headers": {"values": [{"name": "X-A", "value": "1"}, {"name": "X-B", "value": ""},
                                                        {"name": "X-A", "value": "2"}]}}],
    "httpTemplatedCustomAuth": [
        {"template": '{"headers": {"Authorization": "Bearer {{ api_key }}", "X-T": "{{tenant}}"},'
                     ' "qs": {"k": "{{api_key}}-{{n}}"}, "body": {"b": ["{{tenant}}", "x"]}}',
         "placeholderValues": '{"api_key": "k1", "tenant": "", "n": 5}',
         "placeholderDefs": '[{"name": "tenant", "optional": true}]'},
        {"template": '{"headers": {"X": "{{missing}}"}}', "placeholderValues": "{}"},
        {"template": '{"qs": []}'}, {"template": "not json"},
        {"template": '{"headers": {"X": "{{v}}"}}', "placeholderValues": '{"v": {"o": 1}}'},
    ],
    "awsAssumeRole": [
        {"roleArn": " arn:aws:iam::123456789012:role/r ", "externalId": " ext ", "roleSessionName": "",
         "stsAccessKeyId": "AKIAMASTER", "stsSecretAccessKey": " ms ", "stsSessionToken": "mt", "region": "eu-west-1"},
        {"roleArn": "arn:aws:iam::1:role/x", "stsAccessKeyId": "AKIAM", "stsSecretAccessKey": "s",
         "region": "cn-north-1"},
        {"roleArn": "", "stsAccessKeyId": "AKIAM", "stsSecretAccessKey": "s"},
        {"roleArn": "arn:aws:iam::1:role/x", "stsAccessKeyId": " ", "stsSecretAccessKey": "s"},
        {"roleArn": "arn:aws:iam::1:role/x", "useSystemCredentialsForRole": True},
    ],
    "aws": [{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
             "region": "eu-west-1"},
            {"accessKeyId": " AKID ", "secretAccessKey": "s3cr3t", "temporaryCredentials": True,
             "sessionToken": "tok/en=", "region": "us-east-1"},
            {"accessKeyId": "A", "secretAccessKey": "S", "region": "us-west-2", "customEndpoints": True,
             "lambdaEndpoint": "https://lambda.{region}.example.com", "s3Endpoint": "http://localhost:9000",
             "bedrockEndpoint": "https://bedrock.{region}.proxy.example.com/base/"}],
}


def _fill(value: str) -> str:
    if value == "PEM":
        return rsa_pem()
    if value == "PEM-ESCAPED":
        return rsa_pem().replace("\n", "\\n")
    return value


def variants_for(name: str, props: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored data: a base (defaults, a sample per empty string), then every choice of each options/boolean
    field over the base, then the type's shaped samples over the base."""
    base: dict[str, Any] = {}
    choices: list[tuple[str, list[Any]]] = []
    for p in props:
        kind, pname, default = p.get("type"), p["name"], p.get("default")
        if kind in ("notice", "hidden", "collection", "fixedCollection"):
            continue
        if kind == "boolean":
            choices.append((pname, [True, False]))
        elif kind == "options":
            values = [o.get("value") for o in p.get("options") or [] if isinstance(o, dict)]
            if len(values) > 6:  # long lists (AWS regions): ends, middle and the China partition's
                values = [values[0], values[len(values) // 2], values[-1], *[v for v in values if "cn-" in str(v)]]
            choices.append((pname, values))
        elif kind == "number":
            base[pname] = default if isinstance(default, int | float) else 1
        elif kind in ("string", "json"):
            base[pname] = default if isinstance(default, str) and default else f"{pname}-sample"
    out = [base]
    for pname, values in choices:
        out.extend({**base, pname: v} for v in values)
    for sample in _SAMPLES.get(name, []):
        filled = {k: _fill(v) if isinstance(v, str) else v for k, v in sample.items()}
        out.append({**base, **filled})
        for pname, values in choices:
            out.extend({**base, **filled, pname: v} for v in values if pname not in sample)
    return out


_GENERIC = [
    {"method": "GET", "uri": "https://api.example.com/v1/items", "qs": {"limit": "10", "q": "a b"},
     "headers": {"Accept": "application/json"}, "json": True},
    {"method": "POST", "baseURL": "https://api.example.com", "url": "/v1/items", "body": {"name": "x", "n": 1},
     "headers": {"X-Custom": "1", "Notion-Version": "2021-08-16"}, "json": True},
    {"method": "POST", "uri": "https://api.example.com/form", "form": {"a": "1", "b": "two words"},
     "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"method": "GET", "url": "https://other.example.org/deep/path", "qs": {}, "headers": {}, "body": {}},
    {"method": "PUT", "url": "https://api.example.com/put", "body": "raw text",
     "headers": {"Content-Type": "text/plain"}},
    {"method": "GET", "url": "https://api.example.com/no-headers"},
    {"method": "POST", "uri": "https://api.example.com/automations/hooks/7", "qs": {"a": "b"},
     "body": {"k": "v"}, "headers": {"X-A": "b"}, "json": True},
]

_HOSTS: dict[str, list[str]] = {
    "customerIoApi": ["https://track.customer.io/api/v1/customers/1", "https://api-eu.customer.io/v1/campaigns",
                      "https://beta-api.customer.io/v1/x"],
    "mindeeInvoiceApi": ["https://api.mindee.net/v1/products/mindee/invoices/v4/predict",
                         "https://api.mindee.net/v2/inferences"],
    "mindeeReceiptApi": ["https://api.mindee.net/v1/products/mindee/expense_receipts/v5/predict"],
    "microsoftAzureCosmosDbSharedKeyApi": [
        "https://acct.documents.azure.com/dbs/db1/colls/c1/docs", "https://acct.documents.azure.com/dbs/db1/colls/c1",
        "https://acct.documents.azure.com/dbs/db1/colls", "https://acct.documents.azure.com/dbs"],
    "azureStorageSharedKeyApi": ["https://acct.blob.core.windows.net/container/blob.txt",
                                 "https://acct.blob.core.windows.net/container?restype=container&comp=list"],
}


_AWS = [
    {"qs": {"service": "lambda", "path": "/2015-03-31/functions/", "query": {"MaxItems": 5, "Marker": "a b"}},
     "method": "GET", "headers": {}},
    {"qs": {"service": "s3", "path": "/bucket/a key+(1)!.txt", "_region": "eu-central-1"}, "method": "PUT",
     "body": "hello ü", "headers": {"Content-Type": "text/plain", "X-Amz-Meta-A": "  x   y "}},
    {"qs": {"service": "sqs", "path": "/?Action=ListQueues&Version=2012-11-05"}, "method": "POST", "body": {},
     "headers": {}},
    {"qs": {"service": "sts", "path": "/"}, "method": "POST", "form": {"Action": "GetCallerIdentity",
                                                                     "Version": "2011-06-15"}, "headers": {}},
    {"qs": {"service": "email"}, "method": "POST", "body": {"a": [1, {"b": None}]},
     "headers": {"Content-Length": "10", "user-agent": "n8n", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}},
    {"method": "GET", "uri": "https://sts.amazonaws.com", "qs": {"Action": "GetCallerIdentity", "service": "sts"},
     "headers": {}},
    {"method": "GET", "uri": "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", "headers": {}},
    {"method": "GET", "uri": "https://mybucket.s3.eu-west-2.amazonaws.com/dir/%E2%82%AC%2Fx y", "qs": {"list-type": "2",
     "prefix": "a/b"}, "headers": {"Range": "bytes=0-9"}},
    {"method": "POST", "uri": "https://bedrock-runtime.us-west-2.amazonaws.com/model/m:1/invoke",
     "body": {"prompt": "hi"}, "headers": {"Content-Type": "application/json"}, "json": True},
    {"method": "GET", "baseURL": "https://bedrock.eu-west-1.amazonaws.com", "url": "/foundation-models",
     "headers": {}},
    {"method": "GET", "uri": "https://vpce-0a1b-xyz.sqs.us-east-2.vpce.amazonaws.com/123/q", "headers": {}},
    {"method": "GET", "uri": "https://s3-us-west-1.amazonaws.com/b/k", "headers": {}},
    {"method": "GET", "uri": "https://ec2.xx-fake-9.amazonaws.com/", "headers": {}},
    {"method": "DELETE", "uri": "https://[::1]:4566/b/./x/../k", "qs": {"v": ["1", "0"]}, "headers": {}},
    {"qs": {"path": "/x"}, "method": "GET", "headers": {}},
]


def shapes_for(name: str) -> list[dict[str, Any]]:
    """The generic request shapes, plus GETs and POSTs to the hosts the type's code tells apart."""
    shapes = [dict(s) for s in _GENERIC]
    for url in _HOSTS.get(name, []):
        shapes.append({"method": "GET", "uri": url, "qs": {"x": "1"}, "headers": {"Accept": "application/json"}})
        shapes.append({"method": "POST", "url": url, "body": {"id": "1"}, "headers": {"x-ms-custom": "c"},
                       "json": True})
    if name in ("aws", "awsAssumeRole"):
        shapes.extend(dict(s) for s in _AWS)
    if name == "azureStorageSharedKeyApi":
        shapes.append({"method": "PUT", "uri": "https://acct.blob.core.windows.net/c/a b/ü.txt",
                       "qs": {"comp": "block", "blockid": "YQ%3D%3D", "Timeout": 30},
                       "headers": {"x-ms-blob-type": "BlockBlob", "X-MS-Meta-B": " v", "x-ms-meta-a_b": "1",
                                   "x-ms-meta-a-b": "2", "content-Type": "text/plain", "content-length": "3",
                                   "x-ms-date": "Wed, 31 Dec 2025 23:00:00 GMT"}, "body": "abc"})
    return shapes
