"""TLS options that n8n applies to a connection rather than to a request: ``httpSslAuth``'s client certificate,
key, passphrase and CA (the HTTP Request node's ``setAgentOptions``), and a node's ``rejectUnauthorized``
(``gotifyApi``'s ``ignoreSSLIssues``, see :attr:`fluxnex.n8n.code_auth.nodes.NodeAuth.verify_tls`).

:func:`tls_options` says what the connection needs; the session (``fluxnex.api``) builds the TLS context from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from fluxnex.n8n.preauth._jwt import format_pem_block  # n8n's formatPemBlock, as the JWT pre-authentications use it

__all__ = ["TlsOptions", "format_pem_block", "has_tls_options", "tls_options"]


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


def _text(value: Any) -> str | None:
    """A credential field that JavaScript finds truthy (a non-empty string here), else None."""
    return value if isinstance(value, str) and value else None


def has_tls_options(type_name: str) -> bool:
    """Whether connections of ``type_name`` may carry TLS options (so that others cost nothing per request)."""
    if type_name == "httpSslAuth":
        return True
    from fluxnex.n8n.code_auth import nodes

    entry = nodes.get(type_name)
    return entry is not None and entry.verify_tls is not None


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
