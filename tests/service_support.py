"""A real connect service for tests: uvicorn on 127.0.0.1 (a free port) in a thread, over a real manager."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fluxnex.api.manager import CredentialManager

#: QuickBooks and HubSpot types extending the real ones with their pinned endpoints at the sandbox
QB, HUBSPOT = "quickBooksAtSandbox", "hubspotAtSandbox"


def sandbox_types_plugin(authorize_url: str, token_url: str) -> object:
    """A plugin registering ``QB`` and ``HUBSPOT`` with their authorization and token URLs at the sandbox."""
    from fluxnex import CredentialType, Property, hookimpl

    endpoints = [
        Property(display_name="Authorization URL", name="authUrl", type="hidden", default=authorize_url),
        Property(display_name="Access Token URL", name="accessTokenUrl", type="hidden", default=token_url),
    ]

    class Plugin:
        @hookimpl
        def register_credential_types(self, register: Any) -> None:
            register(CredentialType(name=QB, display_name="QuickBooks Online", extends=["quickBooksOAuth2Api"],
                                    properties=list(endpoints)))
            register(CredentialType(name=HUBSPOT, display_name="HubSpot", extends=["hubspotOAuth2Api"],
                                    properties=list(endpoints)))

    return Plugin()


class LiveService:
    """``with LiveService(manager, allowed_return_urls=...) as svc: requests.get(svc.url + "/health")``."""

    def __init__(self, manager: CredentialManager, *, routes: Any = (), **config: Any) -> None:
        import uvicorn
        from fluxnex.server import ServiceConfig, create_app

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config.setdefault("public_url", self.url)
        # "{url}" in an allowed prefix stands for this service's own URL (known only once the port is bound)
        prefixes = config.get("allowed_return_urls", ())
        config["allowed_return_urls"] = tuple(p.replace("{url}", self.url) for p in prefixes)
        self.config = ServiceConfig(**config)
        self.manager = manager
        self.app = create_app(manager, self.config, routes=routes)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name=f"fluxnex-serve-{self.port}")

    def __enter__(self) -> LiveService:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def api(self, path: str) -> str:
        """The full URL of an API path."""
        return f"{self.url}/api/v1{path}"


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of an API key."""
    return {"Authorization": f"Bearer {key}"}


def create_key(manager: CredentialManager, *scopes: str, tenant: Any = None, name: str = "test") -> str:
    """A new API key with ``scopes`` (bound to ``tenant`` when given)."""
    from fluxnex.storage.store._service import ServiceStore

    return ServiceStore(manager.store).create_api_key(name, scopes, tenant)[1]


def get(url: str, **kwargs: Any) -> requests.Response:
    """GET without following redirects."""
    return requests.get(url, allow_redirects=False, timeout=30, **kwargs)


class Deployment:
    """A database and keyring a manager, the CLI and ``fluxnex serve`` processes all share."""

    def __init__(self, url: str) -> None:
        from fluxnex.storage.crypto import generate_key_line

        self.url = url
        self.keys = generate_key_line("svc")
        self.manager = CredentialManager(url, self.keys)

    @property
    def env(self) -> dict[str, str]:
        """The environment of a CLI or ``serve`` process on this deployment."""
        import os

        return {**os.environ, "FLUXNEX_DATABASE_URL": self.url, "FLUXNEX_ENCRYPTION_KEYS": self.keys}

    def close(self) -> None:
        self.manager.close()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A ``Deployment`` on a SQLite file in the test's tmp dir, closed afterwards."""
    dep = Deployment(f"sqlite:///{tmp_path / 'service.db'}")
    try:
        yield dep
    finally:
        dep.close()
