"""A real OAuth2 provider on 127.0.0.1 with switchable misbehaviour, for tests of OAuth2 clients and plugins.

Usage::

    with SandboxProvider(expires_in=60) as sandbox:
        data = sandbox.oauth2_data()                  # n8n-style oAuth2Api credential data
        tokens = sandbox.issue_tokens()               # mint a token pair without the browser flow
        sandbox.fail_next("429", count=2)             # the next two /token requests answer 429
        assert sandbox.token_requests_for(tokens["refresh_token"]) == 0

Endpoints: ``GET /authorize`` (auto-approves, 302 to the redirect URI; with ``consent_page=True`` an HTML
page whose Approve / Deny buttons POST ``/authorize``, answered with a 303), ``POST /token``
(authorization_code with PKCE S256, refresh_token, client_credentials), ``POST /revoke`` (RFC 7009 form or
Intuit-style JSON body), ``POST /introspect`` (RFC 7662), ``GET /api/me`` (a Bearer-protected resource) and the
metadata at ``/.well-known/openid-configuration`` and ``/.well-known/oauth-authorization-server`` (issuer: ``url``).
Refresh tokens belong to a *family* (one authorization); revoking or replaying a rotated refresh token revokes
the whole family, as RFC 6819 5.2.2.3 and OAuth 2.1 recommend. Nothing secret is ever logged or recorded.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Self

import attrs

from fluxnex.testing._sandbox_http import OAuthError, Server, auth_style

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FAIL_MODES",
    "Behaviour",
    "RequestRecord",
    "SandboxProvider",
]

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
FAIL_MODES = ("500", "429", "hang", "malformed", "missing_access_token", "invalid_client", "invalid_grant")
CLIENT_AUTH_STYLES = ("header", "body", "any")
ROTATION_MODES = ("strict", "off", "omit")


@attrs.define
class Behaviour:
    """How the sandbox answers; change fields at run time or atomically with ``SandboxProvider.configure``."""

    expires_in: int | None = 3600  # None: omit expires_in (Salesforce); tokens then live `session_seconds`
    session_seconds: float = 7200.0
    rotation: str = "strict"  # "strict": new refresh token each time; "off": same one; "omit": none returned
    reuse_detection: bool = True  # replaying a rotated refresh token revokes its whole family
    latency: float = 0.0  # seconds slept before answering /token
    fail: str | None = None  # one of FAIL_MODES, applied to /token requests
    fail_count: int | None = None  # how many more /token requests fail; None = every one while `fail` is set
    retry_after: int = 30  # Retry-After seconds sent with the 429 fail mode
    hang_seconds: float = 60.0  # how long the "hang" fail mode sleeps (cut short by stop())
    client_auth: str = "any"  # "header" (HTTP Basic), "body" (form fields) or "any"
    extra_token_fields: dict[str, Any] = attrs.Factory(dict)  # added to every token response
    extra_callback_params: dict[str, str] = attrs.Factory(dict)  # added to the /authorize redirect
    deny: bool = False  # /authorize redirects with error=access_denied
    consent_page: bool = False  # GET /authorize shows an HTML consent page (Approve / Deny) instead of redirecting
    send_iss: bool = True  # the /authorize redirect carries iss (RFC 9207), as the metadata says
    callback_iss: str | None = None  # the iss value sent (None: this sandbox's own issuer URL)
    openid_configuration: bool = True  # False: only RFC 8414's /.well-known/oauth-authorization-server answers
    code_lifetime: float = 600.0
    unauthorized_body: Any = attrs.Factory(
        lambda: {"error": "invalid_token", "error_description": "The access token is invalid or expired"}
    )


@attrs.frozen
class RequestRecord:
    """One request the sandbox answered, without any secret: parameter names only."""

    method: str
    path: str
    query_keys: tuple[str, ...]
    form_keys: tuple[str, ...]
    grant_type: str | None
    client_auth: str  # "header", "body", "both", "none"
    status: int
    at: float


@attrs.define
class _Family:
    client_id: str
    scope: str
    revoked: bool = False


@attrs.define
class _Access:
    family: str
    expires_at: float


@attrs.define
class _Refresh:
    family: str
    used: bool = False


@attrs.define
class _Code:
    client_id: str
    redirect_uri: str | None
    challenge: str | None
    scope: str
    expires_at: float
    family: str | None = None  # set once exchanged, so a replay revokes what it issued


class _Unset(enum.Enum):
    UNSET = enum.auto()


class SandboxProvider:
    """An OAuth2 authorization server on 127.0.0.1 in a daemon thread; also a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **behaviour: Any) -> None:
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: Server | None = None
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

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (idempotent) and return self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = Server((self._host, self._port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fluxnex-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving promptly, cutting short any hanging or slow request."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxProvider(url={self.url if self._server else None!r})"

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

    def oauth2_data(self, **overrides: Any) -> dict[str, Any]:
        """Return n8n-style ``oAuth2Api`` credential data pointing at this sandbox's default client."""
        data: dict[str, Any] = {
            "grantType": "authorizationCode",
            "authUrl": self.authorize_url,
            "accessTokenUrl": self.token_url,
            "clientId": DEFAULT_CLIENT_ID,
            "clientSecret": DEFAULT_CLIENT_SECRET,
            "scope": "",
            "authQueryParameters": "",
            "authentication": "header",
        }
        data.update(overrides)
        return data

    # -- configuration -----------------------------------------------------------------------------------

    @staticmethod
    def _check(b: Behaviour) -> None:
        if b.fail is not None and b.fail not in FAIL_MODES:
            raise ValueError(f"unknown fail mode {b.fail!r}; expected one of {FAIL_MODES}")
        if b.client_auth not in CLIENT_AUTH_STYLES:
            raise ValueError(f"unknown client_auth {b.client_auth!r}; expected one of {CLIENT_AUTH_STYLES}")
        if b.rotation not in ROTATION_MODES:
            raise ValueError(f"unknown rotation {b.rotation!r}; expected one of {ROTATION_MODES}")

    def configure(self, **changes: Any) -> None:
        """Change several behaviour fields atomically."""
        with self._lock:
            new = attrs.evolve(self.behaviour, **changes)
            self._check(new)
            self.behaviour = new

    def fail_next(self, mode: str, count: int = 1) -> None:
        """Make the next ``count`` /token requests fail with ``mode``."""
        self.configure(fail=mode, fail_count=count)

    def fail_always(self, mode: str) -> None:
        """Make every /token request fail with ``mode`` until ``clear_failures``."""
        self.configure(fail=mode, fail_count=None)

    def clear_failures(self) -> None:
        """Answer /token requests normally again."""
        self.configure(fail=None, fail_count=None)

    def register_client(self, client_id: str, client_secret: str | None) -> None:
        """Register a client; a ``None`` secret makes it a public (PKCE-only) client."""
        with self._lock:
            self._clients[client_id] = client_secret

    # -- counters ----------------------------------------------------------------------------------------

    @property
    def token_requests(self) -> dict[str, int]:
        """/token requests received so far, by grant type (failed ones included)."""
        with self._lock:
            return dict(self._token_counts)

    def token_requests_for(self, refresh_token: str) -> int:
        """How many refresh_token grant requests presented this refresh token."""
        with self._lock:
            return self._refresh_counts[refresh_token]

    @property
    def reuse_attempts(self) -> int:
        """Refresh grants that presented an already rotated (spent) refresh token: 0 when clients never reuse."""
        with self._lock:
            return self._reuse_attempts

    def refresh_grants(self, token: str) -> int:
        """Successful refresh grants so far in the family (authorization) of ``token``, any token of it."""
        with self._lock:
            family = self._family_of(token)
            return 0 if family is None else self._family_grants[family]

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far (parameter names only, never values)."""
        with self._lock:
            return list(self._log)

    @property
    def api_requests(self) -> int:
        """Requests received by the protected resource ``/api/me``."""
        with self._lock:
            return self._api_requests

    def reset_counters(self) -> None:
        """Zero the counters and clear the request log."""
        with self._lock:
            self._token_counts.clear()
            self._refresh_counts.clear()
            self._family_grants.clear()
            self._reuse_attempts = 0
            self._log.clear()
            self._api_requests = 0

    # -- token state -------------------------------------------------------------------------------------

    def issue_tokens(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        *,
        scope: str = "",
        expires_in: int | _Unset | None = _Unset.UNSET,
        refresh_token: bool = True,
    ) -> dict[str, Any]:
        """Mint a token response for a new grant, as /token would, without any HTTP."""
        with self._lock:
            if client_id not in self._clients:
                raise ValueError(f"unknown client {client_id!r}")
            family = secrets.token_urlsafe(8)
            self._families[family] = _Family(client_id, scope)
            lifetime = self.behaviour.expires_in if isinstance(expires_in, _Unset) else expires_in
            return self._mint(family, with_refresh=refresh_token, expires_in=lifetime)

    def expire_access_token(self, token: str) -> None:
        """Make an access token expired from now on."""
        with self._lock:
            if token in self._access:
                self._access[token].expires_at = time.time() - 1

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
