"""The sandbox provider's OAuth2 state: clients, authorization codes, token families, and how /token answers.

Refresh tokens belong to a *family* (one authorization); revoking or replaying a rotated refresh token revokes
the whole family, as RFC 6819 5.2.2.3 and OAuth 2.1 recommend. ``fluxnex.testing.sandbox.SandboxProvider`` is
the public face; nothing secret is ever logged or recorded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from http.server import HTTPServer
from typing import Any

from fluxnex.testing._sandbox_records import (
    CLIENT_AUTH_STYLES,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FAIL_MODES,
    ROTATION_MODES,
    Behaviour,
    RequestRecord,
    _Access,
    _Code,
    _Family,
    _Refresh,
)

log = logging.getLogger("fluxnex.testing.sandbox")


class OAuthError(Exception):
    """An RFC 6749 error response the sandbox sends."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status


def auth_style(authorization: str, form: Mapping[str, str]) -> str:
    """Name the client authentication style a request used: header, body, both or none."""
    header = authorization[:6].lower() == "basic "
    body = "client_secret" in form
    return "both" if header and body else "header" if header else "body" if body else "none"


class SandboxState:
    """The sandbox's clients, codes and token families, and the answers its HTTP handler sends.

    ``SandboxProvider`` adds serving, configuration and counters; the handler (``_sandbox_http``) calls the
    private methods below from its threads.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **behaviour: Any) -> None:
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.behaviour = Behaviour(**behaviour)
        self._check(self.behaviour)
        self._clients: dict[str, str | None] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self._families: dict[str, _Family] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._codes: dict[str, _Code] = {}
        self._token_counts: Counter[str] = Counter()
        self._refresh_counts: Counter[str] = Counter()
        self._family_grants: Counter[str] = Counter()
        self._reuse_attempts = 0
        self._log: list[RequestRecord] = []
        self._api_requests = 0
        self.last_authorize_query: dict[str, str] = {}

    @staticmethod
    def _check(b: Behaviour) -> None:
        if b.fail is not None and b.fail not in FAIL_MODES:
            raise ValueError(f"unknown fail mode {b.fail!r}; expected one of {FAIL_MODES}")
        if b.client_auth not in CLIENT_AUTH_STYLES:
            raise ValueError(f"unknown client_auth {b.client_auth!r}; expected one of {CLIENT_AUTH_STYLES}")
        if b.rotation not in ROTATION_MODES:
            raise ValueError(f"unknown rotation {b.rotation!r}; expected one of {ROTATION_MODES}")

    # -- addresses ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the sandbox provider is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def authorize_url(self) -> str:
        return self.url + "/authorize"

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def revoke_url(self) -> str:
        return self.url + "/revoke"

    @property
    def introspect_url(self) -> str:
        return self.url + "/introspect"

    @property
    def api_url(self) -> str:
        return self.url + "/api/me"

    def revoke(self, token: str) -> bool:
        """Revoke the family of an access or refresh token; False if the token is unknown."""
        with self._lock:
            family = self._family_of(token)
            if family is None:
                return False
            self._families[family].revoked = True
            return True

    def introspect(self, token: str) -> dict[str, Any]:
        """Answer as RFC 7662 introspection would: ``{"active": bool, ...}``."""
        with self._lock:
            return self._introspect(token)

    def is_active(self, token: str) -> bool:
        """True for a live access token or a usable refresh token."""
        with self._lock:
            return self._introspect(token).get("active") is True

    def _family_of(self, token: str) -> str | None:
        if token in self._access:
            return self._access[token].family
        if token in self._refresh:
            return self._refresh[token].family
        return None

    def _mint(self, family: str, *, with_refresh: bool, expires_in: int | None,
              refresh: str | None = None) -> dict[str, Any]:
        fam = self._families[family]
        access = secrets.token_urlsafe(32)
        lifetime = self.behaviour.session_seconds if expires_in is None else expires_in
        self._access[access] = _Access(family, time.time() + lifetime)
        body: dict[str, Any] = {"access_token": access, "token_type": "bearer"}
        if expires_in is not None:
            body["expires_in"] = expires_in
        if with_refresh:
            if refresh is None:
                refresh = secrets.token_urlsafe(32)
                self._refresh[refresh] = _Refresh(family)
            body["refresh_token"] = refresh
        if fam.scope:
            body["scope"] = fam.scope
        body.update(self.behaviour.extra_token_fields)
        return body

    def _introspect(self, token: str) -> dict[str, Any]:
        """Answer RFC 7662 introspection for a token."""
        access = self._access.get(token)
        if access is not None:
            fam = self._families[access.family]
            if not fam.revoked and access.expires_at > time.time():
                return {"active": True, "client_id": fam.client_id, "scope": fam.scope,
                        "token_type": "Bearer", "exp": int(access.expires_at)}
        refresh = self._refresh.get(token)
        if refresh is not None:
            fam = self._families[refresh.family]
            if not fam.revoked and not refresh.used:
                return {"active": True, "client_id": fam.client_id, "scope": fam.scope,
                        "token_type": "refresh_token"}
        return {"active": False}

    # -- request handling (called from handler threads) --------------------------------------------------

    def _record(self, method: str, path: str, query: Mapping[str, str], form: Mapping[str, str],
                style: str, status: int) -> None:
        rec = RequestRecord(method=method, path=path, query_keys=tuple(query), form_keys=tuple(form),
                            grant_type=form.get("grant_type"), client_auth=style, status=status,
                            at=time.time())
        with self._lock:
            self._log.append(rec)
        log.debug("sandbox %s %s -> %s", method, path, status)

    def _authorize(self, query: Mapping[str, str], *, denied: bool = False) -> dict[str, str] | None:
        """Return the redirect parameters for an authorization request, or None if it cannot redirect."""
        with self._lock:
            self.last_authorize_query = {k: v for k, v in query.items() if k != "client_secret"}
            b = self.behaviour
            if query.get("client_id", "") not in self._clients or not query.get("redirect_uri"):
                return None
            params: dict[str, str] = {}
            method = query.get("code_challenge_method", "plain" if "code_challenge" in query else None)
            if b.deny or denied:
                params["error"] = "access_denied"
            elif query.get("response_type") != "code":
                params["error"] = "unsupported_response_type"
            elif method is not None and method != "S256":
                params["error"] = "invalid_request"
            else:
                code = secrets.token_urlsafe(24)
                self._codes[code] = _Code(
                    query["client_id"], query["redirect_uri"], query.get("code_challenge"),
                    query.get("scope", ""), time.time() + b.code_lifetime)
                params["code"] = code
                params.update(b.extra_callback_params)
            if "state" in query:
                params["state"] = query["state"]
            if b.send_iss:
                params["iss"] = b.callback_iss or self.url
            return params

    def _count_token_request(self, form: Mapping[str, str]) -> float:
        """Count a /token request and return the latency to apply."""
        grant = form.get("grant_type")
        with self._lock:
            self._token_counts[grant or ""] += 1
            if grant == "refresh_token":
                self._refresh_counts[form.get("refresh_token", "")] += 1
            return self.behaviour.latency

    def _resource(self, token: str) -> tuple[dict[str, Any] | None, Any]:
        """Count a protected-resource request; return (token info or None, the 401 body)."""
        with self._lock:
            self._api_requests += 1
            info = self._introspect(token) if token else {"active": False}
            ok = info.get("active") is True and info.get("token_type") == "Bearer"
            return (info if ok else None), self.behaviour.unauthorized_body

    def _authenticate_client(self, header: str, form: Mapping[str, str],
                             query: Mapping[str, str]) -> tuple[str, str]:
        """Return (client_id, style) or raise invalid_client."""
        if "client_secret" in query or "client_id" in query:
            raise OAuthError("invalid_client", "client credentials must not be in the query string", 401)
        basic: tuple[str, str] | None = None
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic authorization header", 401) from None
            user, sep, password = decoded.partition(":")
            if not sep:
                raise OAuthError("invalid_client", "malformed Basic authorization header", 401)
            basic = (user, password)
        style = auth_style(header, form)
        required = self.behaviour.client_auth
        if style == "both":
            raise OAuthError("invalid_client", "more than one client authentication method used", 401)
        if required != "any" and style in CLIENT_AUTH_STYLES and style != required:
            raise OAuthError("invalid_client", f"this client must authenticate with {required}", 401)
        if basic is not None:
            client_id, secret = basic
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_client", "client_id does not match the authorization header", 401)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        with self._lock:
            known = client_id in self._clients
            expected = self._clients.get(client_id)
        if not known:
            raise OAuthError("invalid_client", "unknown client", 401)
        if expected is not None and not hmac.compare_digest(secret.encode(), expected.encode()):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client_id, style

    def _token(self, grant: str | None, form: Mapping[str, str], client_id: str) -> dict[str, Any]:
        with self._lock:
            if grant == "authorization_code":
                return self._grant_code(form, client_id)
            if grant == "refresh_token":
                return self._grant_refresh(form, client_id)
            if grant == "client_credentials":
                family = secrets.token_urlsafe(8)
                self._families[family] = _Family(client_id, form.get("scope", ""))
                return self._mint(family, with_refresh=False, expires_in=self.behaviour.expires_in)
        raise OAuthError("unsupported_grant_type", "grant_type is missing or not supported")

    def _grant_code(self, form: Mapping[str, str], client_id: str) -> dict[str, Any]:
        rec = self._codes.get(form.get("code", ""))
        if rec is None or rec.client_id != client_id:
            raise OAuthError("invalid_grant", "unknown authorization code")
        if rec.family is not None:
            self._families[rec.family].revoked = True
            raise OAuthError("invalid_grant", "authorization code already used; its tokens are revoked")
        if rec.expires_at < time.time():
            raise OAuthError("invalid_grant", "authorization code expired")
        if rec.redirect_uri is not None and form.get("redirect_uri") != rec.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier")
        if rec.challenge is None and verifier is not None:
            raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was")
        if rec.challenge is not None:
            if verifier is None:
                raise OAuthError("invalid_grant", "code_verifier required")
            digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
            computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not hmac.compare_digest(computed, rec.challenge):
                raise OAuthError("invalid_grant", "PKCE verification failed")
        family = secrets.token_urlsafe(8)
        self._families[family] = _Family(client_id, rec.scope)
        rec.family = family
        return self._mint(family, with_refresh=True, expires_in=self.behaviour.expires_in)

    def _grant_refresh(self, form: Mapping[str, str], client_id: str) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        rec = self._refresh.get(token)
        if rec is None:
            raise OAuthError("invalid_grant", "unknown refresh token")
        fam = self._families[rec.family]
        if fam.client_id != client_id:
            raise OAuthError("invalid_grant", "refresh token was issued to another client")
        if fam.revoked:
            raise OAuthError("invalid_grant", "refresh token revoked")
        if rec.used:
            self._reuse_attempts += 1
            if self.behaviour.reuse_detection:
                fam.revoked = True
                raise OAuthError("invalid_grant", "refresh token reuse detected; the grant is revoked")
            raise OAuthError("invalid_grant", "refresh token already used")
        rotation = self.behaviour.rotation
        self._family_grants[rec.family] += 1
        if rotation == "strict":
            rec.used = True
            return self._mint(rec.family, with_refresh=True, expires_in=self.behaviour.expires_in)
        return self._mint(rec.family, with_refresh=rotation == "off", expires_in=self.behaviour.expires_in,
                          refresh=token)

    def _take_failure(self) -> str | None:
        with self._lock:
            b = self.behaviour
            if b.fail is None:
                return None
            mode = b.fail
            if b.fail_count is not None:
                b.fail_count -= 1
                if b.fail_count <= 0:
                    b.fail, b.fail_count = None, None
            return mode
