"""TLS options that n8n applies to a connection rather than to a request: ``httpSslAuth``'s client certificate,
key, passphrase and CA (the HTTP Request node's ``setAgentOptions``), and a node's ``rejectUnauthorized``
(``gotifyApi``'s ``ignoreSSLIssues``, see :attr:`fluxnex.n8n.code_auth.nodes.NodeAuth.verify_tls`).

:func:`tls_options` says what the connection needs; the session (``fluxnex.api``) builds the TLS context from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["TlsOptions", "format_pem_block", "tls_options"]

_PEM_LINE = 64


@attrs.frozen
class TlsOptions:
    """Node's ``agentOptions``: PEM texts (``ca`` replaces the trusted roots, as Node's ``ca`` does), the key's
    passphrase, and whether the server's certificate is verified."""

    ca: str | None = attrs.field(default=None, repr=False)
    cert: str | None = attrs.field(default=None, repr=False)
    key: str | None = attrs.field(default=None, repr=False)
    passphrase: str | None = attrs.field(default=None, repr=False)
    verify: bool = True

    def __repr__(self) -> str:  # which parts are set, never their text
        parts = [name for name in ("ca", "cert", "key", "passphrase") if getattr(self, name)]
        return f"TlsOptions(set={parts}, verify={self.verify})"


def _compact(pem: str) -> str | None:
    """``formatCompactPem``: one ``BEGIN`` block on one line, its body rewrapped (None when it is not that)."""
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
        body = "\n".join(body[i:i + _PEM_LINE] for i in range(0, len(body), _PEM_LINE))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def format_pem_block(pem: str) -> str:
    """``@n8n/utils``' ``formatPemBlock``: a PEM block pasted on one line (or with literal ``\\n``) made a PEM
    again; text with line breaks, or without ``-----BEGIN``, is returned unchanged."""
    if not pem or "\n" in pem or "-----BEGIN " not in pem:
        return pem
    compact = _compact(pem)
    if compact is not None:
        return compact
    out = ""
    for part in (p for p in pem.split("-----") if p != ""):
        if re.search(r"(PRIVATE KEY|CERTIFICATE)", part):
            out += f"-----{part}-----"
        elif re.search(r"Proc-Type|DEK-Info", part):
            out += re.sub(r"\s+", "\n", re.sub(r":\s+", ":", part).replace("\\n", "\n"))
        else:
            out += re.sub(r"\s+", "\n", part.replace("\\n", "\n"))
    return out


def _text(value: Any) -> str | None:
    """A credential field that JavaScript finds truthy (a non-empty string here), else None."""
    return value if isinstance(value, str) and value else None


def tls_options(type_name: str, credentials: Mapping[str, Any]) -> TlsOptions | None:
    """The TLS options n8n uses for a connection of ``type_name`` with these (effective) credentials; None when
    it uses the defaults."""
    if type_name == "httpSslAuth":
        ca, cert, key = (_text(credentials.get(k)) for k in ("ca", "cert", "key"))
        return TlsOptions(ca=format_pem_block(ca) if ca else None, cert=format_pem_block(cert) if cert else None,
                          key=format_pem_block(key) if key else None, passphrase=_text(credentials.get("passphrase")))
    from fluxnex.n8n.code_auth import nodes

    entry = nodes.get(type_name)
    if entry is None or entry.verify_tls is None or entry.verify_tls(credentials):
        return None
    return TlsOptions(verify=False)
