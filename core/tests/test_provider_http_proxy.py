"""The provider session honours the proxy environment as requests does, reading it once per origin (not twice
per request): a local forward proxy sees the token request, NO_PROXY bypasses it, the CA bundle variable is kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import requests.utils
from fluxnex.lifecycle import _http
from fluxnex.lifecycle._http import provider_session


class _Proxy(BaseHTTPRequestHandler):
    seen: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(self.requestline)
        body = b'{"access_token": "via-proxy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                 "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_requests_go_through_the_environment_proxy_unless_no_proxy_names_the_host(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    session = provider_session(10)
    answer = session.post("http://provider.invalid/token", data={"grant_type": "refresh_token"})
    assert answer.json() == {"access_token": "via-proxy"}
    assert _Proxy.seen == ["POST http://provider.invalid/token HTTP/1.1"]
    monkeypatch.setenv("NO_PROXY", "bypassed.invalid")
    direct = provider_session(10)  # a new session reads the environment afresh
    with pytest.raises(requests.ConnectionError):  # not through the proxy: the name does not resolve
        direct.post("http://bypassed.invalid/token", data={})
    assert len(_Proxy.seen) == 1


def test_the_environment_is_read_once_per_origin_within_its_period(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    reads: list[str] = []
    real = requests.utils.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        reads.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(_http, "get_environ_proxies", counted)
    session = provider_session(10)
    for _ in range(5):
        session.post("http://provider.invalid/token", data={})
    session.post("http://other.invalid/token", data={})
    assert reads == ["http://provider.invalid/token", "http://other.invalid/token"]
    assert len(_Proxy.seen) == 6
    monkeypatch.setattr(_http, "PROXY_ENV_SECONDS", 0.0)  # the period over: the environment is read again
    monkeypatch.delenv("HTTP_PROXY")
    with pytest.raises(requests.ConnectionError):
        session.post("http://provider.invalid/token", data={})
    assert len(reads) == 3 and len(_Proxy.seen) == 6


def test_ca_bundle_and_session_settings_merge_as_requests_does(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    ours, plain = provider_session(10), requests.Session()
    for args in (({}, None, True, None), ({}, None, False, None), ({"https": "http://explicit:1"}, True, None, "c")):
        url = "https://provider.invalid/token"
        assert ours.merge_environment_settings(url, dict(args[0]), *args[1:]) == \
            plain.merge_environment_settings(url, dict(args[0]), *args[1:])
