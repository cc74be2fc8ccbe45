"""What n8n's HTTP Request node does at send time rather than in the request, through ``CredentialManager.session()``
against real local servers: ``httpSslAuth`` (a TLS server that requires a client certificate signed by its own
CA: the certificate, its encrypted key and passphrase, the CA that replaces the trusted roots), ``httpDigestAuth``
(a server that answers 401 with a Digest challenge and checks the response), and ``gotifyApi``'s
``ignoreSSLIssues``."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fluxnex.api._tls import ClientTlsError
from fluxnex.api.manager import CredentialManager

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000d5")
PASSPHRASE = "s3cret phrase é"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(cn: str, key: Any, issuer: tuple[x509.Name, Any] | None, *, ca: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        local = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(local, critical=False)
    issuer_name, issuer_key = issuer if issuer else (_name(cn), key)
    return builder.issuer_name(issuer_name).sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class Pki:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate (its key encrypted)."""

    def __init__(self, folder: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _issue("FluxNex test CA", ca_key, None, ca=True)
        server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        issuer = (self.ca.subject, ca_key)
        self.ca_pem = _pem(self.ca)
        self.client_pem = _pem(_issue("client-7", client_key, issuer))
        self.client_key_pem = client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode())).decode()
        self.server_cert = folder / "server.pem"
        self.server_key = folder / "server.key"
        self.server_cert.write_text(_pem(_issue("server", server_key, issuer)))
        self.server_key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))


class _Server:
    """HTTPS (``client_certs``: required, optional or none) or HTTP; records path, headers and the client's CN."""

    def __init__(self, pki: Pki | None, client_certs: ssl.VerifyMode = ssl.CERT_NONE,
                 digest: tuple[str, str] | None = None) -> None:
        self.seen: list[dict[str, Any]] = []
        self.redirect_to: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
                subject = dict(x[0] for x in peer["subject"]) if peer else {}
                outer.seen.append({"path": self.path, "headers": dict(self.headers), "cn": subject.get("commonName")})
                if outer.redirect_to and self.path == "/go":
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 200 if digest is None else _digest_status(self.headers.get("Authorization"), digest,
                                                                   self.command, self.path)
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", f'Digest realm="{DIGEST_REALM}", qop="auth", '
                                     f'nonce="{DIGEST_NONCE}", opaque="op4que", algorithm=MD5')
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if pki is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(pki.server_cert, pki.server_key)
            context.verify_mode = client_certs
            if client_certs != ssl.CERT_NONE:
                context.load_verify_locations(cadata=pki.ca_pem)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


DIGEST_REALM, DIGEST_NONCE = "fluxnex@test", "dcd98b7102dd2f0e8b11d0f600bfb0c093"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _digest_status(header: str | None, creds: tuple[str, str], method: str, path: str) -> int:
    """RFC 2617 (qop=auth, MD5) checked as a server does: 200 for the right response, 401 otherwise."""
    if not header or not header.startswith("Digest "):
        return 401
    fields = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])}
    ha1 = _md5(f"{creds[0]}:{DIGEST_REALM}:{creds[1]}")
    ha2 = _md5(f"{method}:{fields.get('uri')}")
    expected = _md5(f"{ha1}:{DIGEST_NONCE}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
    ok = (fields.get("username") == creds[0] and fields.get("uri") == path and fields.get("response") == expected
          and fields.get("opaque") == "op4que")
    return 200 if ok else 401


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    started: list[_Server] = []
    yield started
    for server in started:
        server.close()


def _start(servers: list[_Server], *args: Any, **kwargs: Any) -> _Server:
    server = _Server(*args, **kwargs)
    servers.append(server)
    return server


def _ssl(manager: CredentialManager, name: str, **data: str) -> str:
    manager.create_connection(TENANT, "httpSslAuth", name, data)
    return name


def test_client_certificate_with_encrypted_key_reaches_a_server_that_requires_one(
        manager: CredentialManager, pki: Pki, servers: list[_Server]) -> None:
    server = _start(servers, pki, ssl.CERT_REQUIRED)
    _ssl(manager, "mtls", ca=pki.ca_pem, cert=pki.client_pem, key=pki.client_key_pem, passphrase=PASSPHRASE)
    with manager.session(TENANT, "mtls") as http:
        assert http.get(f"{server.url}/a?x=1").text == "ok"
        assert http.get(f"{server.url}/b").status_code == 200
    assert [(s["path"], s["cn"]) for s in server.seen] == [("/a?x=1", "client-7"), ("/b", "client-7")]


def test_pem_pasted_on_one_line_is_reformatted_as_n8n_does(manager: CredentialManager, pki: Pki,
                                                           servers: list[_Server]) -> None:
    server = _start(servers, pki, ssl.CERT_REQUIRED)
    one_line = {k: v.strip().replace("\n", " ") for k, v in
                {"ca": pki.ca_pem, "cert": pki.client_pem, "key": pki.client_key_pem}.items()}
    _ssl(manager, "pasted", passphrase=PASSPHRASE, **one_line)
    with manager.session(TENANT, "pasted") as http:
        assert http.get(f"{server.url}/p").status_code == 200
    assert server.seen[-1]["cn"] == "client-7"


def test_the_ca_replaces_the_roots_and_without_a_client_certificate_the_server_refuses(
        manager: CredentialManager, pki: Pki, servers: list[_Server]) -> None:
    server = _start(servers, pki, ssl.CERT_REQUIRED)
    open_server = _start(servers, pki)  # no client certificate asked: the CA alone is enough
    _ssl(manager, "ca-only", ca=pki.ca_pem)
    _ssl(manager, "no-ca", cert=pki.client_pem, key=pki.client_key_pem, passphrase=PASSPHRASE)
    with manager.session(TENANT, "ca-only") as http:
        assert http.get(f"{open_server.url}/trusted").status_code == 200
    with manager.session(TENANT, "ca-only") as http, pytest.raises(requests.exceptions.ConnectionError):
        http.get(f"{server.url}/x")
    with manager.session(TENANT, "no-ca") as http, pytest.raises(requests.exceptions.SSLError) as caught:
        http.get(f"{server.url}/x")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert server.seen == []


def test_wrong_passphrase_or_a_key_without_its_certificate_is_a_clear_error_without_the_pem(
        manager: CredentialManager, pki: Pki, servers: list[_Server]) -> None:
    server = _start(servers, pki, ssl.CERT_REQUIRED)
    _ssl(manager, "bad-pass", ca=pki.ca_pem, cert=pki.client_pem, key=pki.client_key_pem, passphrase="nope")
    _ssl(manager, "key-only", ca=pki.ca_pem, key=pki.client_key_pem, passphrase=PASSPHRASE)
    for name, what in (("bad-pass", "do not load"), ("key-only", "without its certificate")):
        with manager.session(TENANT, name) as http, pytest.raises(ClientTlsError) as caught:
            http.get(f"{server.url}/x")
        assert what in str(caught.value) and "BEGIN" not in str(caught.value) and PASSPHRASE not in str(caught.value)
    assert server.seen == []


def test_the_client_certificate_stays_on_its_origin_the_ca_follows_the_redirect(
        manager: CredentialManager, pki: Pki, servers: list[_Server]) -> None:
    first = _start(servers, pki, ssl.CERT_REQUIRED)
    other = _start(servers, pki, ssl.CERT_OPTIONAL)  # another origin that would accept the certificate
    first.redirect_to = f"{other.url}/landed"
    _ssl(manager, "hop", ca=pki.ca_pem, cert=pki.client_pem, key=pki.client_key_pem, passphrase=PASSPHRASE)
    with manager.session(TENANT, "hop") as http:
        response = http.get(f"{first.url}/go")
    assert response.status_code == 200 and response.url == f"{other.url}/landed"
    assert first.seen[0]["cn"] == "client-7"
    assert other.seen == [{"path": "/landed", "headers": other.seen[0]["headers"], "cn": None}]


def test_gotify_ignore_ssl_issues_turns_verification_off_for_its_connection_only(
        manager: CredentialManager, pki: Pki, servers: list[_Server]) -> None:
    server = _start(servers, pki)
    for name, ignore in (("g-ignore", True), ("g-verify", False)):
        manager.create_connection(TENANT, "gotifyApi", name, {"appApiToken": "app", "clientApiToken": "client",
                                                              "url": server.url, "ignoreSSLIssues": ignore})
    with manager.session(TENANT, "g-ignore") as http:
        assert http.get(f"{server.url}/message").status_code == 200
    assert server.seen[-1]["headers"]["X-Gotify-Key"] == "client"
    with manager.session(TENANT, "g-verify") as http, pytest.raises(requests.exceptions.SSLError):
        http.get(f"{server.url}/message")
    assert len(server.seen) == 1


def test_digest_is_sent_after_the_servers_challenge_and_a_wrong_password_stays_401(
        manager: CredentialManager, servers: list[_Server]) -> None:
    server = _start(servers, None, digest=("ané", "pa:ss"))
    manager.create_connection(TENANT, "httpDigestAuth", "dg", {"user": "ané", "password": "pa:ss"})
    manager.create_connection(TENANT, "httpDigestAuth", "dg-bad", {"user": "ané", "password": "wrong"})
    with manager.session(TENANT, "dg") as http:
        response = http.get(f"{server.url}/dir/index.html?q=1")
    assert response.status_code == 200 and [r.status_code for r in response.history] == [401]
    first, second = server.seen
    assert "Authorization" not in first["headers"]  # sendImmediately: false
    assert second["headers"]["Authorization"].startswith('Digest username="ané", realm="fluxnex@test"')
    with manager.session(TENANT, "dg-bad") as http:
        assert http.get(f"{server.url}/dir/index.html").status_code == 401
