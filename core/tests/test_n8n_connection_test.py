"""``CredentialManager.test_connection`` with n8n's catalog types against a real local HTTP server."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.connection_test import TestResult, request_url
from fluxnex.api.manager import CredentialManager
from fluxnex.contract.hookspecs import hookimpl
from fluxnex.contract.plugins import PluginInfo, TypeRegistry, _load_plugin, _new_plugin_manager
from fluxnex.lifecycle import builtin
from fluxnex.n8n import register_catalog
from fluxnex.storage.crypto import Keyring, generate_key_line
from fluxnex.testing.n8n_catalog import catalog_path

TENANT = uuid.UUID("00000000-0000-0000-0000-00000000000a")


class _Server:
    """A local HTTP server: ``routes[path] = (status, reason, body)``; it records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, Any]] = {}
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                outer.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                   "body": body})
                status, reason, payload = outer.routes.get(self.path.split("?")[0], (404, "Not Found", {}))
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status, reason)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


class _TestHook:
    @hookimpl
    def test_connection(self, credential_type: Any, data: dict[str, Any], http: Any) -> Any:
        return (True, "checked by the plugin") if credential_type.name == "notionApi" else None


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[CredentialManager]:
    registry = TypeRegistry(_new_plugin_manager())
    _load_plugin(registry, builtin, PluginInfo("builtin", "fluxnex-core", "0"))
    register_catalog(registry, catalog_path())
    registry.plugin_manager.register(_TestHook(), name="test-hook")
    mgr = CredentialManager(f"sqlite:///{tmp_path}/db.sqlite", Keyring.parse(generate_key_line("k1")),
                            registry=registry)
    yield mgr
    mgr.close()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_success_sends_the_resolved_request_with_the_generic_authentication(manager: CredentialManager,
                                                                            server: _Server) -> None:
    server.routes["/v1/health"] = (200, "OK", {"status": "up"})
    manager.create_connection(TENANT, "verticaApi", "v", {"url": server.url + "/", "username": "u", "password": "p"})
    result = manager.test_connection(TENANT, "v")
    assert result == TestResult(True, "Connection successful!", 200)
    [seen] = server.seen
    assert (seen["method"], seen["path"]) == ("GET", "/v1/health")
    assert seen["headers"]["Authorization"] == _basic("u", "p")


def test_response_code_rule_fails_with_its_message(manager: CredentialManager, server: _Server) -> None:
    manager.create_connection(TENANT, "verticaApi", "v", {"url": server.url, "username": "u", "password": "p"})
    for status, message in [(403, "Connection failed: Invalid credentials or insufficient permissions"),
                            (503, "Service unavailable: Server is overloaded or under maintenance")]:
        server.routes["/v1/health"] = (status, "Whatever", {})
        assert manager.test_connection(TENANT, "v") == TestResult(False, message, status)


def test_other_error_status_fails_with_the_reason_phrase(manager: CredentialManager, server: _Server) -> None:
    server.routes["/v1/health"] = (401, "Unauthorized", {"error": "no"})
    manager.create_connection(TENANT, "verticaApi", "v", {"url": server.url, "username": "u", "password": "p"})
    assert manager.test_connection(TENANT, "v") == TestResult(False, "Unauthorized", 401)


def test_response_success_body_rule_on_a_nested_key(manager: CredentialManager, server: _Server) -> None:
    # strapiTokenApi: ignoreHttpStatusErrors, rule key "error.name" == "UnauthorizedError"
    manager.create_connection(TENANT, "strapiTokenApi", "s", {"url": server.url, "apiToken": "t0k",
                                                              "apiVersion": "v4"})
    server.routes["/api/users/count"] = (401, "Unauthorized", {"error": {"name": "UnauthorizedError"}})
    assert manager.test_connection(TENANT, "s") == TestResult(False, "Invalid API token", 401)
    server.routes["/api/users/count"] = (403, "Forbidden", {"error": {"name": "ForbiddenError"}})
    assert manager.test_connection(TENANT, "s").ok  # ignoreHttpStatusErrors: only the body rule counts
    assert server.seen[-1]["headers"]["Authorization"] == "Bearer t0k"


def test_response_success_body_rule_without_value_fails_when_the_key_is_missing(manager: CredentialManager,
                                                                               server: _Server) -> None:
    # zabbixApi: POST a JSON-RPC body; rule {key: "result"} with no value: a body without "result" fails
    manager.create_connection(TENANT, "zabbixApi", "z", {"url": server.url, "apiToken": "zt"})
    server.routes["/api_jsonrpc.php"] = (200, "OK", {"error": {"code": -32602}})
    assert manager.test_connection(TENANT, "z") == TestResult(False, "Invalid access token", 200)
    server.routes["/api_jsonrpc.php"] = (200, "OK", {"result": []})
    assert manager.test_connection(TENANT, "z") == TestResult(True, "Connection successful!", 200)
    seen = server.seen[-1]
    assert seen["method"] == "POST" and json.loads(seen["body"])["method"] == "host.get"
    assert seen["headers"]["Content-Type"] == "application/json-rpc"  # the credential's header wins


def test_network_failure_is_one_line_without_the_url(manager: CredentialManager, server: _Server) -> None:
    url = server.url
    server.close()
    manager.create_connection(TENANT, "verticaApi", "v", {"url": url + "/?token=SECRET", "username": "u",
                                                          "password": "p"})
    result = manager.test_connection(TENANT, "v")
    assert not result.ok and "SECRET" not in result.message and "127.0.0.1" in result.message
    server.httpd = type("Closed", (), {"shutdown": lambda s: None, "server_close": lambda s: None})()


def test_code_authenticated_and_code_tested_types_need_a_plugin(manager: CredentialManager) -> None:
    # a type whose authenticate is code that core does not implement (the catalog's are: test_code_auth_session)
    manager.registry.add([{"name": "codeOnlyApi", "displayName": "Code only", "authenticate": {},
                           "properties": [{"displayName": "Key", "name": "key", "type": "string", "default": ""}],
                           "test": {"request": {"baseURL": "http://fluxnex.invalid", "url": "/me"}}}],
                         PluginInfo("code-only", "code-only", "0"))
    manager.create_connection(TENANT, "codeOnlyApi", "t", {"key": "k"})
    result = manager.test_connection(TENANT, "t")
    assert (result.ok, result.needs_plugin) == (False, True) and "authenticates it in code" in result.message
    manager.create_connection(TENANT, "segmentApi", "s", {"writekey": "k"})
    result = manager.test_connection(TENANT, "s")
    assert (result.ok, result.needs_plugin) == (False, True) and "tests it in code" in result.message


def test_a_plugin_hook_answers_first(manager: CredentialManager) -> None:
    manager.create_connection(TENANT, "notionApi", "n", {"apiKey": "k"})
    assert manager.test_connection(TENANT, "n") == TestResult(True, "checked by the plugin", None)


def test_oauth2_type_without_test_request_checks_for_a_token(manager: CredentialManager) -> None:
    oauth = {"clientId": "c", "clientSecret": "s", "authUrl": "https://a.io/auth", "accessTokenUrl": "https://a.io/t"}
    assert manager.create_connection(TENANT, "oAuth2Api", "o", oauth).status.value == "NOT_CONNECTED"
    result = manager.test_connection(TENANT, "o")
    assert not result.ok and result.message == (
        f"This OAuth2 credential was not connected to an account. Connect it with `fluxnex connect --tenant {TENANT} "
        "--type oAuth2Api --name o`."
    )
    manager.create_connection(TENANT, "oAuth2Api", "o2", {**oauth, "oauthTokenData": {"access_token": "a"}})
    assert manager.test_connection(TENANT, "o2").ok


@pytest.mark.parametrize(("base", "url", "expected"), [
    ("https://a.io/v1", "/x", "https://a.io/v1/x"),
    ("https://a.io/v1/", "x", "https://a.io/v1/x"),
    ("https://a.io/v1//", "/x", "https://a.io/v1/x"),
    ("https://a.io", "//b.io/y", "//b.io/y"),
    ("https://a.io", "https://b.io/y", "https://b.io/y"),
    ("https://a.io/z", None, "https://a.io/z"),
    (None, "https://b.io/y", "https://b.io/y"),
])
def test_url_joins_like_axios(base: str | None, url: str | None, expected: str) -> None:
    assert request_url(base, url) == expected
