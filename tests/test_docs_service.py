"""docs/service.md and the README state what the service does: its endpoints and scopes, the serve options, the
CLI commands, and an embedding example that runs (FastAPI, mounted under a prefix, on a real uvicorn)."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from fluxnex.cli import _COMMANDS
from fluxnex.cli.service import serve_command
from fluxnex.server._api import ENDPOINTS, PREFIX
from fluxnex.storage.crypto import generate_key_line
from fluxnex.storage.store._service import SCOPES

ROOT = Path(__file__).resolve().parents[1]
SERVICE = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_endpoint_is_documented_with_its_scope() -> None:
    for e in ENDPOINTS:
        start = f"| `{e.method} {PREFIX}{e.path}` |"
        row = next((line for line in SERVICE.splitlines() if line.startswith(start)), None)
        assert row is not None, f"{e.method} {e.path} is not in docs/service.md"
        assert f"`{e.scope}`" in row if e.scope else "| none |" in row
    documented = re.findall(r"^\| `(GET|POST|PATCH|DELETE) (/api/v1[^`]*)` \|", SERVICE, re.MULTILINE)
    assert len(documented) == len(ENDPOINTS)
    for scope in SCOPES:
        assert f"`{scope}`" in SERVICE


def test_serve_options_are_documented() -> None:
    for param in serve_command.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert f"`{opt}" in SERVICE, opt


def test_readme_lists_every_command() -> None:
    block = README[README.index("## Command line"):README.index("## Repository")]
    for name in _COMMANDS:
        assert re.search(rf"^fluxnex {re.escape(name)}\b", block, re.MULTILINE), name
    for name in ("serve", "api-keys", "oauth-apps"):
        assert f"fluxnex {name}" in SERVICE


def _example() -> str:
    section = SERVICE[SERVICE.index("## Embedding it in FastAPI"):]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_fastapi_embedding_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi")
    import uvicorn

    monkeypatch.setenv("FLUXNEX_DATABASE_URL", f"sqlite:///{tmp_path / 'embedded.db'}")
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", generate_key_line("doc"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    namespace: dict[str, Any] = {}
    exec(compile(_example().replace("https://app.example.com", base), "docs/service.md", "exec"), namespace)
    manager = namespace["manager"]
    server = uvicorn.Server(uvicorn.Config(namespace["app"], log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        assert requests.get(base + "/fluxnex/health", timeout=10).json()["status"] == "ok"
        from fluxnex.storage.store._service import ServiceStore

        key = ServiceStore(manager.store).create_api_key("doc", ["connect:create"], None)[1]
        tenant = uuid.uuid4()
        made = requests.post(base + "/fluxnex/api/v1/connect-sessions", headers={"Authorization": f"Bearer {key}"},
                             json={"tenant_id": str(tenant), "type": "revenovaApi", "name": "Doc",
                                   "return_url": base + "/integrations/done"}, timeout=10)
        assert made.status_code == 201 and made.json()["url"].startswith(base + "/fluxnex/connect/")
        browser = requests.Session()
        page = browser.get(made.json()["url"], timeout=10)
        assert f'href="{base}/fluxnex/static/connect.css"' in page.text
        assert requests.get(base + "/fluxnex/static/connect.js", timeout=10).status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        done = browser.post(made.json()["url"], data={"csrf_token": csrf.group(1), "accessToken": "doc-token-1"},
                            allow_redirects=False, timeout=10)
        assert done.status_code == 303 and done.headers["location"].startswith(base + "/integrations/done?")
        assert manager.get_connection(tenant, "Doc")["accessToken"] == "doc-token-1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        manager.close()
