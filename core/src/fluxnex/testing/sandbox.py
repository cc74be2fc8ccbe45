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
the whole family, as RFC 6819 5.2.2.3 and OAuth 2.1 recommend (``_sandbox_grants``). Nothing secret is ever
logged or recorded.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any, Self

import attrs

from fluxnex.testing._sandbox_grants import SandboxState
from fluxnex.testing._sandbox_http import Server
from fluxnex.testing._sandbox_records import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FAIL_MODES,
    Behaviour,
    RequestRecord,
    _Family,
    _Unset,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FAIL_MODES",
    "Behaviour",
    "RequestRecord",
    "SandboxProvider",
]


class SandboxProvider(SandboxState):
    """An OAuth2 authorization server on 127.0.0.1 in a daemon thread; also a context manager."""

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
