"""The sandbox provider's settings (``Behaviour``), its request log entries, and the records of issued grants."""

from __future__ import annotations

import enum
from typing import Any

import attrs

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
    keep_alive: bool = False  # answer HTTP/1.1 and keep connections open, as real token endpoints do
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
