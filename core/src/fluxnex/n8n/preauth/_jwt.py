"""RS256 assertions the pre-authentication of GitHub App, Salesforce JWT and Entra (certificate) signs."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from typing import Any, Final

from fluxnex.n8n.preauth._model import PreAuthError

__all__ = ["client_assertion", "format_pem_block", "sign_rs256"]

_BODY_LINE: Final = 64


def _compact_pem(pem: str) -> str | None:
    """``formatCompactPem``: one PEM block on one line, rebuilt with its body in 64-character lines."""
    trimmed = pem.strip()
    if trimmed.count("-----BEGIN ") != 1:
        return None
    match = re.fullmatch(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY|CERTIFICATE)-----([\s\S]*?)-----END \1-----", trimmed)
    if match is None:
        return None
    label, body = match.group(1), match.group(2).replace("\\n", "\n").strip()
    if re.search(r"\s", body):
        body = re.sub(r"\s+", "\n", re.sub(r":\s+", ":", body))
        body = re.sub(r"^(?:(?:Proc-Type|DEK-Info):\S+\n)+",
                      lambda m: re.sub(r"^(Proc-Type|DEK-Info):", r"\1: ", m.group(0), flags=re.M) + "\n", body)
    else:
        body = "\n".join(body[i : i + _BODY_LINE] for i in range(0, len(body), _BODY_LINE))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def format_pem_block(value: object) -> str:
    """n8n's ``formatPemBlock`` (``@n8n/utils``): a private key or certificate pasted on one line made whole
    again; anything with a line break, or that is not PEM, is returned unchanged."""
    pem = "" if value is None else str(value)
    if not pem or "\n" in pem or "-----BEGIN " not in pem:
        return pem
    compact = _compact_pem(pem)
    if compact is not None:
        return compact
    out = ""
    for part in (p for p in pem.split("-----") if p):
        if re.search(r"(PRIVATE KEY|CERTIFICATE)", part):
            out += f"-----{part}-----"
        elif re.search(r"Proc-Type|DEK-Info", part):
            out += re.sub(r"\s+", "\n", re.sub(r":\s+", ":", part).replace("\\n", "\n"))
        else:
            out += re.sub(r"\s+", "\n", part.replace("\\n", "\n"))
    return out


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
              "iat": issued, "nbf": issued, "exp": issued + 300}
    return sign_rs256(claims, private_key, headers={"x5t": _thumbprint(certificate)},
                      what="microsoftEntraServicePrincipalApi")
