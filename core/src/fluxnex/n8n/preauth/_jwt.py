"""RS256 assertions the pre-authentication of GitHub App, Salesforce JWT and Entra (certificate) signs."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Any

from fluxnex.n8n.preauth._model import PreAuthError

__all__ = ["client_assertion", "format_pem_block", "sign_rs256"]

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def format_pem_block(value: object) -> str:
    """n8n's ``formatPemBlock``: a PEM whose line breaks were flattened (spaces, ``\\n`` typed out) made whole."""
    text = str(value or "").replace("\\n", "\n").strip()
    match = _PEM.search(text)
    if match is None:
        return text
    label, body = match.group(1), re.sub(r"\s+", "", match.group(2))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"


def sign_rs256(claims: dict[str, Any], private_key: object, *, headers: dict[str, Any] | None = None,
               what: str) -> str:
    """A compact RS256 JWT of ``claims``; ``PreAuthError`` (permanent: the stored key is unusable) on a bad key."""
    import jwt

    try:
        return jwt.encode(claims, format_pem_block(private_key), algorithm="RS256", headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError):
        raise PreAuthError(f"{what}: the private key is not a usable PEM RSA key", permanent=True) from None


def _thumbprint(certificate: str) -> str:
    """base64url SHA-1 of the certificate's DER (the ``x5t`` header Microsoft identifies the key by)."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(format_pem_block(certificate).encode())
    except ValueError:
        raise PreAuthError("microsoftEntraServicePrincipalApi: the certificate is not a PEM certificate",
                           permanent=True) from None
    from cryptography.hazmat.primitives.serialization import Encoding

    digest = hashlib.sha1(cert.public_bytes(Encoding.DER), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def client_assertion(*, client_id: str, token_url: str, private_key: str, certificate: str, now: float) -> str:
    """A Microsoft identity platform client assertion (RFC 7523): RS256, ``x5t`` of the certificate, 5 minutes."""
    issued = int(now)
    claims = {"aud": token_url, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
              "nbf": issued, "iat": issued, "exp": issued + 300}
    return sign_rs256(claims, private_key, headers={"x5t": _thumbprint(certificate)},
                      what="microsoftEntraServicePrincipalApi")
