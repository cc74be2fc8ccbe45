"""Compact JWS (RFC 7515) signing with HS256 and RS256, byte for byte as ``jsonwebtoken`` writes it.

The header and claims are serialised in the order given (``jsonwebtoken`` keeps insertion order; PyJWT sorts
header keys, so its tokens would differ from n8n's), compact, non-ASCII kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from fluxnex.n8n.code_auth._js import CodeAuthError


def _segment(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign_hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """``header.claims.signature`` with an HMAC-SHA256 signature."""
    if not key:
        raise CodeAuthError("secretOrPrivateKey must have a value")
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    return f"{signing_input}.{_b64url(hmac.new(key, signing_input.encode('ascii'), hashlib.sha256).digest())}"


def sign_rs256(header: dict[str, Any], claims: dict[str, Any], private_key_pem: str) -> str:
    """``header.claims.signature`` with an RSASSA-PKCS1-v1_5 SHA-256 signature (deterministic)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_pem_private_key(private_key_pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise CodeAuthError("the private key is not a PEM RSA private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CodeAuthError("secretOrPrivateKey must be an asymmetric key when using RS256")
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


_HEX_PAIRS = re.compile(r"(?:[0-9a-fA-F]{2})*")


def node_hex(value: str) -> bytes:
    """``Buffer.from(value, 'hex')``: pairs of hex digits up to the first that is not one."""
    match = _HEX_PAIRS.match(value)
    return bytes.fromhex(match.group(0) if match else "")
