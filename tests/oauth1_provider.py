"""A local OAuth 1.0a provider on 127.0.0.1 built on oauthlib's server endpoints (RFC 5849, every signature checked).

``POST /request_token`` (signed by the consumer, with ``oauth_callback``), ``GET /authorize?oauth_token=...``
(approves at once and redirects to the callback with ``oauth_verifier``, as a person clicking "Allow" would),
``POST /access_token`` (signed with the request token and the verifier), and ``/resource`` (GET or POST, a
signed request with the access token: 200, else 401). Request tokens and verifiers are single-use; nonces are
remembered, so a replayed signature is refused. ``calls`` counts each endpoint.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlencode, urlsplit

from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    AuthorizationEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from oauthlib.oauth1.rfc5849 import SIGNATURE_METHODS
from support import LocalServer

__all__ = ["OAuth1Provider"]

#: The last path segment of each endpoint, ours and X's / Trello's (their hidden URLs in n8n's catalog).
_ENDPOINTS = {"request_token": "/request_token", "OAuthGetRequestToken": "/request_token",
              "authorize": "/authorize", "OAuthAuthorizeToken": "/authorize",
              "access_token": "/access_token", "OAuthGetAccessToken": "/access_token"}


class _Validator(RequestValidator):
    """In-memory state; every check that oauthlib delegates answers from it."""

    enforce_ssl = False

    def __init__(self, consumer_key: str, consumer_secret: str, rsa_public_pem: str | None) -> None:
        super().__init__()
        self.consumer_key, self.consumer_secret, self.rsa_public_pem = consumer_key, consumer_secret, rsa_public_pem
        self.request_tokens: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, str] = {}
        self.nonces: set[tuple[str, str, str]] = set()
        self.lock = threading.Lock()

    allowed_signature_methods = SIGNATURE_METHODS
    dummy_client = "dummy-client-key-000000"
    dummy_request_token = "dummy-request-token-0000"
    dummy_access_token = "dummy-access-token-00000"

    def check_client_key(self, client_key: str) -> bool:
        return True

    def check_request_token(self, request_token: str) -> bool:
        return True

    def check_access_token(self, request_token: str) -> bool:
        return True

    def check_nonce(self, nonce: str) -> bool:
        return True

    def check_verifier(self, verifier: str) -> bool:
        return True

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key == self.consumer_key

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self.consumer_secret if client_key == self.consumer_key else "dummy"

    def get_rsa_key(self, client_key: str, request: Any) -> str:
        return self.rsa_public_pem or ""

    def validate_timestamp_and_nonce(self, client_key: str, timestamp: str, nonce: str, request: Any,
                                     request_token: str | None = None, access_token: str | None = None) -> bool:
        key = (client_key, timestamp, nonce)
        with self.lock:
            if key in self.nonces:
                return False
            self.nonces.add(key)
            return True

    def validate_redirect_uri(self, client_key: str, redirect_uri: str, request: Any) -> bool:
        return redirect_uri.startswith("http://127.0.0.1:")

    def validate_requested_realms(self, client_key: str, realms: Any, request: Any) -> bool:
        return True

    def get_default_realms(self, client_key: str, request: Any) -> list[str]:
        return []

    def save_request_token(self, token: dict[str, Any], request: Any) -> None:
        self.request_tokens[token["oauth_token"]] = {"secret": token["oauth_token_secret"],
                                                     "callback": request.redirect_uri, "verifier": None}

    def get_realms(self, token: str, request: Any) -> list[str]:
        return []

    def get_redirect_uri(self, token: str, request: Any) -> str:
        return str(self.request_tokens[token]["callback"])

    def verify_request_token(self, token: str, request: Any) -> bool:
        return token in self.request_tokens

    def verify_realms(self, token: str, realms: Any, request: Any) -> bool:
        return True

    def save_verifier(self, token: str, verifier: dict[str, Any], request: Any) -> None:
        self.request_tokens[token]["verifier"] = verifier["oauth_verifier"]

    def validate_request_token(self, client_key: str, token: str, request: Any) -> bool:
        return token in self.request_tokens

    def get_request_token_secret(self, client_key: str, token: str, request: Any) -> str:
        entry = self.request_tokens.get(token)
        return entry["secret"] if entry else "dummy"

    def validate_verifier(self, client_key: str, token: str, verifier: str, request: Any) -> bool:
        entry = self.request_tokens.get(token)
        return entry is not None and entry["verifier"] == verifier

    def invalidate_request_token(self, client_key: str, request_token: str, request: Any) -> None:
        self.request_tokens.pop(request_token, None)

    def save_access_token(self, token: dict[str, Any], request: Any) -> None:
        self.access_tokens[token["oauth_token"]] = token["oauth_token_secret"]

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return token in self.access_tokens

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return self.access_tokens.get(token, "dummy")

    def validate_realms(self, client_key: str, token: str, request: Any, uri: Any = None,
                        realms: Any = None) -> bool:
        return True


class OAuth1Provider(LocalServer):
    """See the module docstring. ``consumer_key``/``consumer_secret`` are the registered app's."""

    def __init__(self, *, rsa_public_pem: str | None = None) -> None:
        self.consumer_key = "ck-" + secrets.token_hex(8)
        self.consumer_secret = secrets.token_hex(16)
        self.validator = _Validator(self.consumer_key, self.consumer_secret, rsa_public_pem)
        self.calls: Counter[str] = Counter()
        self.last_resource_body: str | None = None
        self._serve(self._handler())

    def settings(self, signature_method: str = "HMAC-SHA1") -> dict[str, str]:
        """oAuth1Api data for this provider."""
        return {"consumerKey": self.consumer_key, "consumerSecret": self.consumer_secret,
                "requestTokenUrl": f"{self.url}/request_token", "authUrl": f"{self.url}/authorize?app=fluxnex",
                "accessTokenUrl": f"{self.url}/access_token", "signatureMethod": signature_method}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self
        validator = self.validator

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                raw = body.encode()
                self.send_response(status)
                for key, value in (headers or {"Content-Type": "application/x-www-form-urlencoded"}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _request(self) -> tuple[str, str | None, dict[str, str]]:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else None
                host = self.headers.get("Host", "")
                # a request routed here for a provider's own host (LoopbackAdapter) was signed for https://host
                base = provider.url if host.startswith("127.0.0.1") else f"https://{host}"
                return f"{base}{self.path}", body, dict(self.headers.items())

            def _dispatch(self) -> None:
                path = _ENDPOINTS.get(urlsplit(self.path).path.rsplit("/", 1)[-1], "/resource")
                provider.calls[path] += 1
                uri, body, headers = self._request()
                if path == "/request_token":
                    h, b, s = RequestTokenEndpoint(validator).create_request_token_response(
                        uri, self.command, body, headers)
                    self._send(s, b or "", h)
                elif path == "/authorize":
                    h, b, s = AuthorizationEndpoint(validator).create_authorization_response(
                        uri, self.command, body, headers, realms=[])
                    self._send(s, b or "", h)
                elif path == "/access_token":
                    h, b, s = AccessTokenEndpoint(validator).create_access_token_response(
                        uri, self.command, body, headers)
                    self._send(s, b or "", h)
                else:
                    ok, _ = ResourceEndpoint(validator).validate_protected_resource_request(
                        uri, self.command, body, headers, realms=[])
                    provider.last_resource_body = body
                    self._send(200 if ok else 401, urlencode({"ok": ok}))

            do_GET = do_POST = _dispatch

        return Handler
