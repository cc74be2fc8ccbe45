"""A local provider for n8n's pre-authenticated types: one HTTP server on 127.0.0.1 playing every token endpoint.

``FakeTokenServer`` answers each token path with a fresh token (``tok-<n>``), in the shape the type's provider
uses (a JSON field, an ``x-jwt-token`` header, a ``JSESSIONID`` cookie), records every request (method, Host,
path, headers, body) and counts them; ``GET /resource`` answers 200 only to the newest token, 401 otherwise
(``revoke()`` makes the current one stale); STS's ``POST /`` answers AssumeRole XML whose AccessKeyId is the
token. Types with a fixed provider host (``https://api.umbrella.com``) reach it through ``LoopbackAdapter``:
mounted on a ``requests.Session``, it sends every request to the server over real HTTP, the original host kept
in ``Host``, as a resolver override would. ``storm`` sends one request from many threads in three processes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter
from support import LocalServer

__all__ = ["CERT", "FLAT_PEM", "KEY", "PEM", "TENANT_GUID", "FakeTokenServer", "LoopbackAdapter", "route_to",
           "storm"]

#: An RSA key (PEM, and flattened onto one line as pasted into a one-line field) and a certificate for it.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
FLAT_PEM = PEM.replace("\n", " ")  # line breaks flattened, as pasted into a one-line field
_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fluxnex-test")])
CERT = (x509.CertificateBuilder().subject_name(_NAME).issuer_name(_NAME).public_key(KEY.public_key())
        .serial_number(1).not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2040, 1, 1))
        .sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
TENANT_GUID = "0b7a6c1e-1111-4222-8333-944455556666"


_STS = ("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials>"
        "<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret-{key}</SecretAccessKey>"
        "<SessionToken>session-{key}</SessionToken><Expiration>{expires}</Expiration>"
        "</Credentials></AssumeRoleResult></AssumeRoleResponse>")


def _jwt(exp: float, n: int) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'exp': int(exp), 'n': n})}.c2ln"


class FakeTokenServer(LocalServer):
    """See the module docstring. ``latency`` delays each token answer (seconds); ``status`` forces an error."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.status = 200
        self.lifetime = 3600
        self.requests: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self.valid: str | None = None
        self._lock = threading.Lock()
        self._serve(self._handler())

    @property
    def token_calls(self) -> int:
        return len(self.issued)

    def revoke(self) -> None:
        self.valid = None

    def _issue(self) -> str:
        with self._lock:
            token = f"tok-{len(self.issued) + 1}"
            self.issued.append(token)
            self.valid = token
            return token

    def _answer(self, path: str, token: str) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body) for a token endpoint, in its provider's shape."""
        now = time.time()
        if path.endswith("/api/session"):
            return 200, {}, {"id": token}
        if path.endswith("/user/login"):
            jwt = _jwt(now + self.lifetime, len(self.issued))
            self.valid = jwt
            self.issued[-1] = jwt
            return 200, {"x-jwt-token": jwt}, {"_id": "user"}
        if path.endswith("/api/user/token-auth/"):
            jwt = _jwt(now + self.lifetime, len(self.issued))
            self.valid = jwt
            self.issued[-1] = jwt
            return 200, {}, {"token": jwt, "user": {}}
        if path.endswith("/users/login"):
            expires = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now + self.lifetime))
            return 200, {}, {"id": "u1", "token": token, "tokenExpires": expires}
        if path.endswith("/api/v1/authenticatedSession"):
            return 200, {"Set-Cookie": f"JSESSIONID={token}; Path=/; Secure; HttpOnly"}, {"authType": "ADMIN"}
        if path == "/v3/access_tokens":  # Cisco Secure Endpoint (after SecureX's client credentials)
            return 200, {}, {"access_token": token, "expires_in": self.lifetime, "token_type": "bearer"}
        if path.endswith("/access_tokens"):
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + self.lifetime))
            return 201, {}, {"token": token, "expires_at": expires}
        if path.endswith("/services/oauth2/token"):
            return 200, {}, {"access_token": token, "instance_url": self.url, "token_type": "Bearer"}
        if path == "/":  # STS AssumeRole (awsAssumeRole): the new key pair's id is the token
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + self.lifetime))
            return 200, {}, _STS.format(key=token, expires=expires)
        if path.endswith("/vedauth/authorize/oauth"):
            return 200, {}, {"access_token": token, "expires": int(now + self.lifetime), "token_type": "Bearer"}
        return 200, {}, {"access_token": token, "expires_in": self.lifetime, "token_type": "bearer"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, headers: dict[str, str], body: Any) -> None:
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                presented = " ".join(str(v) for k, v in self.headers.items()
                                     if k.lower() in ("authorization", "x-metabase-session", "cookie",
                                                      "x-jwt-token"))
                ok = server.valid is not None and server.valid in presented
                self._reply(200 if ok else 401, {}, {"ok": ok})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                content_type = self.headers.get("Content-Type", "")
                body: Any = raw
                if raw and "json" in content_type:
                    body = json.loads(raw)
                elif raw and "form-urlencoded" in content_type:
                    body = dict(parse_qsl(raw))
                record = {"method": "POST", "host": self.headers.get("Host"), "path": self.path,
                          "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                server.requests.append(record)
                if server.latency:
                    time.sleep(server.latency)
                if server.status != 200:
                    self._reply(server.status, {}, {"error": "refused"})
                    return
                token = server._issue()
                self._reply(*server._answer(urlsplit(self.path).path, token))

        return Handler


class LoopbackAdapter(HTTPAdapter):
    """Sends every request to ``127.0.0.1:port`` over HTTP, keeping the host it was addressed to in ``Host``."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(parts._replace(scheme="http", netloc=f"127.0.0.1:{self.port}"))
        kwargs["verify"] = False
        return super().send(request, **kwargs)


def route_to(session: requests.Session, port: int) -> None:
    """Mount a ``LoopbackAdapter`` for every URL on ``session`` (a manager's provider session)."""
    adapter = LoopbackAdapter(port)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


THREADS = 8


def _reader(url: str, key_spec: str, tenant: str, resource: str, header: str, port: int | None, start: Any,
            results: Any) -> None:
    """A process: THREADS threads wait for ``start``, then each GETs ``resource`` through the session."""
    from fluxnex.api.manager import CredentialManager

    mgr = CredentialManager(url, key_spec)
    if port is not None:
        route_to(mgr.http, port)
    results.put(_threads(mgr, tenant, resource, header, start))
    mgr.close()


def _threads(mgr: Any, tenant: Any, resource: str, header: str, start: Any) -> list[str]:
    out: list[str] = []

    def run() -> None:
        start.wait(30)
        response = mgr.session(tenant, "m").get(resource)
        out.append(f"{response.status_code}:{response.request.headers.get(header)}")

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def storm(mgr: Any, url: str, key_spec: str, tenant: Any, resource: str, *, header: str,
          port: int | None = None) -> list[str]:
    """THREADS threads here and THREADS in each of 2 processes GET ``resource`` (connection "m") at one instant.

    Each answer as ``"<status>:<the request's header>"``; ``port`` routes the processes' provider sessions to
    the server (``route_to``: for types whose token host is fixed).
    """
    from lifecycle_support import SPAWN

    start, results = SPAWN.Event(), SPAWN.Queue()
    procs = [SPAWN.Process(target=_reader, args=(url, key_spec, str(tenant), resource, header, port, start, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    local = threading.Event()
    out: list[str] = []
    here = threading.Thread(target=lambda: out.extend(_threads(mgr, tenant, resource, header, local)))
    here.start()
    time.sleep(2.0)  # let the processes import and connect: the race starts together, not when they are ready
    start.set()
    local.set()
    here.join(90)
    for _ in procs:
        out.extend(results.get(timeout=60))
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return out

