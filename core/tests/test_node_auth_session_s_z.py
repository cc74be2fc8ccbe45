"""Node-code types (``fluxnex.n8n.code_auth.nodes.services_s_z*``) through ``CredentialManager.session()`` against
a local HTTP server, without node: a token put into the path (Telegram) and kept out of every URL the caller
sees, a JSON login first (Strapi), a signature over the query (Unleashed), UTF-8 basic auth and a form (Zulip),
Wise's Strong Customer Authentication (a 403 answered by the request signed and sent again)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from fluxnex.api.manager import CredentialManager
from fluxnex.lifecycle import builtin
from fluxnex.n8n.code_auth import nodes
from http_recorder import *  # noqa: F403 - the server fixture
from http_recorder import RecordingServer

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000d4")
TOKEN = "123456:SeCrEt-Bot_Token"


def test_telegram_token_goes_into_the_path_and_nowhere_the_caller_sees(
        manager: CredentialManager, server: RecordingServer, caplog: pytest.LogCaptureFixture) -> None:
    manager.create_connection(TENANT, "telegramApi", "tg", {"accessToken": TOKEN, "baseUrl": server.url})
    base = nodes.base_url("telegramApi", {"baseUrl": server.url})
    assert base == server.url and TOKEN not in base
    server.answers["/bot" + TOKEN + "/getMe"] = (404, {"ok": False})
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    with manager.session(TENANT, "tg", base_url=base) as http:
        sent = http.get("sendMessage", params={"chat_id": "1", "text": "a b"})
        missing = http.get("getMe")
        file = http.get("file/photos/p 1.jpg")
        assert TOKEN not in repr(http)
    assert [urlsplit(s["path"]).path for s in server.seen] == [
        f"/bot{TOKEN}/sendMessage", f"/bot{TOKEN}/getMe", f"/file/bot{TOKEN}/photos/p%201.jpg"]
    assert dict(parse_qsl(urlsplit(server.seen[0]["path"]).query)) == {"chat_id": "1", "text": "a b"}
    assert sent.url == f"{server.url}/sendMessage?chat_id=1&text=a+b"
    assert file.url == f"{server.url}/file/photos/p%201.jpg"
    with pytest.raises(requests.HTTPError) as failed:
        missing.raise_for_status()
    assert str(failed.value) == f"404 Client Error: Not Found for url: {server.url}/getMe"
    logged = [r.getMessage() for r in caplog.records]
    assert any("/getMe" in line for line in logged) and not any(TOKEN in line for line in logged)


def test_telegram_connection_errors_and_foreign_hosts_name_no_token(manager: CredentialManager,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    manager.create_connection(TENANT, "telegramApi", "tg", {"accessToken": TOKEN, "baseUrl": closed})
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    with manager.session(TENANT, "tg") as http:
        with pytest.raises(requests.ConnectionError) as failed:
            http.get(f"{closed}/getMe", timeout=5)
        with pytest.raises(Exception, match="not addressed under the credential's base URL") as foreign:
            http.get("http://127.0.0.1:9/getMe")
    assert "/getMe" in str(failed.value) and TOKEN not in str(failed.value)
    assert failed.value.__context__ is None and TOKEN not in str(foreign.value)
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


def test_strapi_logs_in_with_json_and_sends_the_jwt(manager: CredentialManager, server: RecordingServer) -> None:
    builtin.code_tokens().forget()
    server.answers["/api/auth/local"] = (200, {"jwt": "J.W.T", "user": {"id": 1}})
    manager.create_connection(TENANT, "strapiApi", "s", {"url": server.url + "/", "email": "é@example.com",
                                                         "password": "pw", "apiVersion": "v4"})
    base = nodes.base_url("strapiApi", {"url": server.url + "/", "apiVersion": "v4"})
    with manager.session(TENANT, "s", base_url=base) as http:
        http.get("restaurants", params={"pagination[page]": "1"}).raise_for_status()
    login, call = server.seen
    assert (login["method"], login["path"]) == ("POST", "/api/auth/local")
    assert login["headers"]["content-type"] == "application/json"
    assert json.loads(login["body"]) == {"identifier": "é@example.com", "password": "pw"}
    assert call["path"] == "/api/restaurants?pagination%5Bpage%5D=1"
    assert call["headers"]["Authorization"] == "Bearer J.W.T"


def test_unleashed_signs_the_query_and_zulip_sends_utf8_basic_auth_and_a_form(manager: CredentialManager,
                                                                             server: RecordingServer) -> None:
    manager.create_connection(TENANT, "unleashedSoftwareApi", "u", {"apiId": "id-1", "apiKey": "k3y"})
    manager.create_connection(TENANT, "zulipApi", "z", {"url": server.url + "/", "email": "é@example.com",
                                                        "apiKey": "k:y"})
    with manager.session(TENANT, "u") as http:
        http.get(f"{server.url}/Products", params={"q": "a b*", "page": "2"})
    seen = server.seen[-1]
    expected = hmac.new(b"k3y", b"q=a%20b%2A&page=2", hashlib.sha256).digest()
    assert seen["headers"]["api-auth-signature"] == base64.b64encode(expected).decode()
    assert seen["headers"]["api-auth-id"] == "id-1"
    base = nodes.base_url("zulipApi", {"url": server.url + "/"})
    with manager.session(TENANT, "z", base_url=base) as http:
        http.post("messages", json={"type": "stream", "content": "hé"})
    seen = server.seen[-1]
    assert seen["path"] == "/api/v1/messages"
    assert seen["headers"]["Authorization"] == "Basic " + base64.b64encode("é@example.com:k:y".encode()).decode()
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(seen["body"].decode())) == {"type": "stream", "content": "hé"}


def test_wise_answers_strong_customer_authentication_with_the_signed_token(manager: CredentialManager) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    seen: list[dict[str, str]] = []

    class Wise(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            challenged = "X-Signature" not in self.headers
            self.send_response(403 if challenged else 200)
            if challenged:
                self.send_header("x-2fa-approval", f"ott-{len(seen)}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Wise)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/profiles/7/balance-statements/1/statement.json"
    manager.create_connection(TENANT, "wiseApi", "w", {"apiToken": "t0k", "privateKey": pem})
    manager.create_connection(TENANT, "wiseApi", "nokey", {"apiToken": "t0k"})
    try:
        with manager.session(TENANT, "w") as http:
            assert http.get(url).status_code == 200
        with manager.session(TENANT, "nokey") as http, pytest.raises(Exception, match="requires Strong Customer"):
            http.get(url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    first, signed, unsigned = seen
    assert first["Authorization"] == signed["Authorization"] == "Bearer t0k" and "X-Signature" not in first
    assert signed["x-2fa-approval"] == "ott-1" and "X-Signature" not in unsigned
    key.public_key().verify(base64.b64decode(signed["X-Signature"]), b"ott-1", padding.PKCS1v15(), hashes.SHA256())
