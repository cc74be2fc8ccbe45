"""The transport adapter of a connection whose TLS is part of its credentials (:mod:`fluxnex.n8n.client_tls`):
a client certificate and key (with their passphrase), the CA that replaces the trusted roots, or no verification.

The PEM texts are loaded into an ``ssl.SSLContext`` from memory: the certificate chain through an anonymous
in-memory file (``memfd``) where the platform has one, else a private temporary file removed as soon as it is
read. The context is built once per set of options and session (the adapter keeps its connection pool).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from fluxnex.contract.errors import FluxnexError
from fluxnex.n8n.client_tls import TlsOptions

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs  # the stubs' names of what the supertype returns

__all__ = ["ClientTlsError", "TlsAdapter", "options_key", "tls_context"]

_OP_LEGACY_SERVER_CONNECT = 0x4  # OpenSSL's SSL_OP_LEGACY_SERVER_CONNECT (ssl exports it from Python 3.12)


class ClientTlsError(FluxnexError):
    """The connection's TLS options cannot be used (the message says which part; never the PEM text)."""


def options_key(options: TlsOptions) -> str:
    """Identifies a set of options (a digest: the options themselves are secrets)."""
    parts = (options.ca, options.cert, options.key, options.passphrase, str(options.verify))
    return hashlib.sha256("\x00".join(p or "" for p in parts).encode("utf-8")).hexdigest()


@contextlib.contextmanager
def _pem_path(text: str) -> Iterator[str]:
    """A path OpenSSL can read ``text`` from, gone when the block ends."""
    data = text.encode("utf-8")
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("fluxnex-client-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    folder = tempfile.mkdtemp(prefix="fluxnex-tls-")  # 0700
    path = os.path.join(folder, "chain.pem")
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(data)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def tls_context(options: TlsOptions) -> ssl.SSLContext:
    """An ``SSLContext`` for ``options`` (raises :class:`ClientTlsError` naming the part that does not load)."""
    if options.ca:
        try:
            context = ssl.create_default_context(cadata=options.ca)
        except (ssl.SSLError, ValueError):
            raise ClientTlsError("httpSslAuth: the CA is not a PEM certificate") from None
    else:
        context = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)
    if not options.verify:  # n8n's rejectUnauthorized: false, with the legacy renegotiation it allows then
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.options |= getattr(ssl, "OP_LEGACY_SERVER_CONNECT", _OP_LEGACY_SERVER_CONNECT)
    if options.key and not options.cert:
        raise ClientTlsError("httpSslAuth: a private key is set without its certificate")
    if options.cert:
        chain = options.cert if not options.key else f"{options.cert.rstrip()}\n{options.key.strip()}\n"
        passphrase = options.passphrase or ""
        try:
            with _pem_path(chain) as path:
                context.load_cert_chain(path, password=lambda: passphrase)
        except (ssl.SSLError, OSError, ValueError):
            raise ClientTlsError("httpSslAuth: the client certificate and key do not load "
                                 "(not PEM, not a pair, or a wrong passphrase)") from None
    return context


class TlsAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose HTTPS connections use one ``SSLContext`` (its trust and client certificate are
    the connection's, whatever ``verify``/``cert`` a caller passes)."""

    def __init__(self, options: TlsOptions) -> None:
        self._context = tls_context(options)
        self._verify = options.verify
        super().__init__()

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest, verify: Any,
                                             cert: Any = None) -> tuple[_HostParams, _PoolKwargs]:
        host_params, _ = super().build_connection_pool_key_attributes(request, verify, None)
        return host_params, {"ssl_context": self._context,
                             "cert_reqs": "CERT_REQUIRED" if self._verify else "CERT_NONE"}

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # the context holds the trust and the client certificate: no bundle or file is added to it
        conn.cert_reqs = "CERT_REQUIRED" if self._verify else "CERT_NONE"
        conn.ca_certs = None
        conn.ca_cert_dir = None
        if not self._verify:
            conn.assert_hostname = False
