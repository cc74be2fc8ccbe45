"""Standard Webhooks signatures (https://www.standardwebhooks.com): ``whsec_`` secrets, ``v1,`` HMAC-SHA256.

The signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``; the signature header is
``v1,<base64 of the HMAC-SHA256 with the secret's decoded bytes>``. The tests check every signature with the
``standardwebhooks`` package itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["SECRET_PREFIX", "headers", "new_secret", "sign"]

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 24


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one delivery attempt (the id stays, the timestamp is the attempt's)."""
    return {
        "content-type": "application/json",
        "user-agent": "fluxnex-webhooks",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
