"""n8n "node code" types through ``CredentialManager.session()``: relative paths resolve against the API root the
type's n8n node builds from the credentials, and the request on the wire carries what the node adds. The
transport is a recording adapter mounted on the session (the hosts are the real APIs', which tests cannot reach):
everything above it is the production path."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import requests
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from fluxnex.api.manager import CredentialManager
from requests.adapters import BaseAdapter

TENANT = uuid.UUID("00000000-0000-0000-0000-00000000000d")


class _Recorder(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code, response._content, response.request = 200, b"{}", request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def _session(manager: CredentialManager, name: str, **kwargs: Any) -> tuple[requests.Session, _Recorder]:
    session = manager.session(TENANT, name, **kwargs)
    recorder = _Recorder()
    session.mount("https://", recorder)
    return session, recorder


def test_a_relative_path_resolves_against_the_nodes_api_root(manager: CredentialManager) -> None:
    manager.create_connection(TENANT, "freshserviceApi", "help desk", {"apiKey": "k3y", "domain": "acme"})
    session, recorder = _session(manager, "help desk")
    assert session.base_url == "https://acme.freshservice.com/api/v2"  # type: ignore[attr-defined]
    session.get("/tickets", params={"page": 2}).raise_for_status()
    (sent,) = recorder.sent
    assert sent.url == "https://acme.freshservice.com/api/v2/tickets?page=2"
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"k3y:X").decode()
    assert "k3y" not in repr(session)


def test_a_given_base_url_wins_and_a_header_type_adds_its_header(manager: CredentialManager) -> None:
    manager.create_connection(TENANT, "dhlApi", "parcels", {"apiKey": "dhl-k3y"})
    session, recorder = _session(manager, "parcels", base_url="https://api-test.dhl.com")
    session.get("/track/shipments", params={"trackingNumber": "1"}).raise_for_status()
    (sent,) = recorder.sent
    assert sent.url == "https://api-test.dhl.com/track/shipments?trackingNumber=1"
    assert sent.headers["DHL-API-Key"] == "dhl-k3y"


def test_types_that_are_not_node_code_have_no_default_root(manager: CredentialManager) -> None:
    manager.create_connection(TENANT, "httpHeaderAuth", "plain", {"name": "X-Key", "value": "v"})
    assert manager.session(TENANT, "plain").base_url is None  # type: ignore[attr-defined]
