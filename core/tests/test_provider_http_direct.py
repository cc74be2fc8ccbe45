"""The provider session's direct path for plain requests (``fluxnex.lifecycle._http``): what reaches the server,
the redirects followed and the cookies kept are exactly what requests' own ``Session.request`` gives, and
requests that are not plain still take requests' path."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from fluxnex.lifecycle import _http
from fluxnex.lifecycle._http import provider_session
from http_recorder import RecordingServer
from requests.auth import AuthBase, HTTPBasicAuth


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingServer]:
    """The recording server; ``/jump`` redirects to ``/token`` and sets a cookie, ``/token`` sets one too."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    srv = RecordingServer()
    srv.answers["/jump"] = (302, {})
    srv.headers["/jump"] = {"Location": "/token", "Set-Cookie": "tracker=1; Path=/"}
    srv.answers["/token"] = (200, {"access_token": "a"})
    srv.headers["/token"] = {"Set-Cookie": "session=2; Path=/"}
    yield srv
    srv.close()


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs requests' ``Session.prepare_request`` prepared (the direct path never calls it)."""
    calls: list[str] = []
    real = requests.Session.prepare_request

    def spy(self: requests.Session, request: requests.Request) -> requests.PreparedRequest:
        calls.append(str(request.url))
        return real(self, request)

    monkeypatch.setattr(requests.Session, "prepare_request", spy)
    return calls


def _through_requests(monkeypatch: pytest.MonkeyPatch) -> requests.Session:
    """A provider session whose every request takes requests' own path: the reference."""
    session = provider_session(10)
    monkeypatch.setattr(session, "_plain", lambda *args: None)
    return session


_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
PLAIN: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/token", {"data": "grant_type=refresh_token&refresh_token=r%2B1", "headers": _FORM}),
    ("POST", "/token", {"data": b"grant_type=x", "headers": _FORM, "auth": ("client", "s3cr\u00e9t")}),
    ("POST", "/token?tenant=a&x=1", {"data": "a=1", "auth": HTTPBasicAuth("client", "secret")}),
    ("POST", "/token", {"data": "", "headers": {"Accept-Encoding": None, "X-Extra": "1"}}),
    ("GET", "/.well-known/openid-configuration", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), PLAIN)
def test_a_plain_request_reaches_the_server_exactly_as_through_requests(
    server: RecordingServer, prepared: list[str], monkeypatch: pytest.MonkeyPatch, method: str, path: str,
    kwargs: dict[str, Any]
) -> None:
    ours = provider_session(10).request(method, server.url + path, timeout=5, allow_redirects=False, **kwargs)
    assert prepared == []  # the direct path
    reference = _through_requests(monkeypatch).request(
        method, server.url + path, timeout=5, allow_redirects=False, **kwargs)
    assert len(prepared) == 1
    assert server.seen[0] == server.seen[1]
    assert (ours.status_code, ours.json(), ours.url) == (reference.status_code, reference.json(), reference.url)
    assert ours.elapsed.total_seconds() > 0 and ours.request.headers == reference.request.headers


class _Signed(AuthBase):
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["X-Signature"] = "s"
        return r


@pytest.mark.parametrize(("url_path", "kwargs"), [
    ("/token", {"params": {"a": "1"}}),
    ("/token", {"json": {"a": 1}}),
    ("/token", {"data": {"a": "1"}}),
    ("/token", {"files": {"f": b"x"}}),
    ("/token", {"cookies": {"c": "1"}}),
    ("/token", {"auth": _Signed()}),
    ("/to%20ken", {}),
    ("", {}),
])
def test_requests_that_are_not_plain_take_requests_path(
    server: RecordingServer, prepared: list[str], url_path: str, kwargs: dict[str, Any]
) -> None:
    response = provider_session(10).post(server.url + url_path, timeout=5, **kwargs)
    assert response.status_code == 200
    assert len(prepared) == 1


def test_an_upper_case_host_takes_requests_path_and_is_lower_cased(
    server: RecordingServer, prepared: list[str]
) -> None:
    response = provider_session(10).post(server.url.replace("127.0.0.1", "LOCALHOST") + "/token", data="a=1",
                                         timeout=5)
    assert response.status_code == 200 and len(prepared) == 1
    assert response.url.startswith("http://localhost:")


def test_redirects_are_followed_or_stopped_as_requests_does_and_no_cookie_is_kept(
    server: RecordingServer, prepared: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, reference = provider_session(10), _through_requests(monkeypatch)
    for session in (ours, reference):
        stopped = session.post(server.url + "/jump", data="a=1", timeout=5, allow_redirects=False)
        assert stopped.status_code == 302 and stopped.next is not None
        assert stopped.next.url == server.url + "/token"
        followed = session.post(server.url + "/jump", data="a=1", timeout=5)
        assert followed.status_code == 200 and [r.status_code for r in followed.history] == [302]
        assert followed.url == server.url + "/token"
        assert len(session.cookies) == 0  # the session refuses every cookie on either path
    assert prepared == [server.url + "/jump"] * 2  # the reference's two requests; the redirects are not prepared
    assert server.seen[:3] == server.seen[3:]  # jump, jump, then the redirected GET: the same on both paths


def test_netrc_credentials_are_used_on_the_direct_path_and_read_once_per_origin(
    server: RecordingServer, prepared: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login client password from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    reads: list[str] = []
    real = _http.get_netrc_auth

    def counted(url: str, raise_errors: bool = False) -> tuple[str, str] | None:
        reads.append(url)
        return real(url, raise_errors)

    monkeypatch.setattr(_http, "get_netrc_auth", counted)
    session = provider_session(10)
    for _ in range(3):
        session.post(server.url + "/token", data="a=1", timeout=5)
    assert prepared == [] and reads == [server.url + "/token"]
    _through_requests(monkeypatch).post(server.url + "/token", data="a=1", timeout=5)
    headers = [seen["headers"] for seen in server.seen]
    assert headers[0]["Authorization"] == headers[3]["Authorization"] == requests.auth._basic_auth_str(
        "client", "from-netrc")
    explicit = session.post(server.url + "/token", data="a=1", auth=("other", "pw"), timeout=5)
    assert explicit.request.headers["Authorization"] == requests.auth._basic_auth_str("other", "pw")


def test_a_refused_connection_and_a_deadline_raise_as_on_requests_path(
    prepared: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(requests.ConnectionError):
        provider_session(10).post("http://127.0.0.1:9/token", data="a=1")
    assert prepared == []
    quiet = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            quiet.wait(5)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(requests.Timeout):
            provider_session(0.3).post(f"http://127.0.0.1:{httpd.server_address[1]}/token", data="a=1")
    finally:
        quiet.set()
        httpd.shutdown()
        httpd.server_close()
    assert prepared == []
