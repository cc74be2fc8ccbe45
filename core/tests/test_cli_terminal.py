"""The CLI on a real terminal (a pseudo-terminal): confirmations and the prompts of `connections update`."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluxnex import CredentialManager
from fluxnex.storage.crypto import generate_key_line

TENANT = str(uuid.UUID("11111111-2222-3333-4444-555555555555"))


class Terminal:
    """``fluxnex ARGS`` with stdin, stdout and stderr on a pseudo-terminal; ``expect`` then ``send``."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(["fluxnex", *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} never appeared in {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"{text!r} never appeared in {self.seen!r} (the command ended)"
                self.seen += chunk.decode(errors="replace")

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def finish(self) -> int:
        code = self.proc.wait(timeout=30)
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk.decode(errors="replace")
        os.close(self.master)
        return code


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")},
            "FLUXNEX_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "FLUXNEX_ENCRYPTION_KEYS": generate_key_line("k1"), "TERM": "dumb"}


@pytest.fixture
def manager(env: dict[str, str]) -> Iterator[CredentialManager]:
    mgr = CredentialManager(env["FLUXNEX_DATABASE_URL"], env["FLUXNEX_ENCRYPTION_KEYS"])
    mgr.create_connection(TENANT, "revenovaApi", "R", {"accessToken": "old-token-1234",
                                                       "instanceUrl": "https://old.example"})
    yield mgr
    mgr.close()


def test_delete_asks_on_a_terminal(env: dict[str, str], manager: CredentialManager) -> None:
    term = Terminal(env, "connections", "delete", "--tenant", TENANT, "R")
    term.expect("Delete connection 'R' (revenovaApi)? [y/N]")
    term.send("n")
    assert term.finish() == 1 and "Aborted" in term.seen
    assert manager.get_connection_info(TENANT, "R").name == "R"
    term = Terminal(env, "connections", "delete", "--tenant", TENANT, "R")
    term.expect("[y/N]")
    term.send("y")
    assert term.finish() == 0 and "Deleted connection 'R'." in term.seen
    assert manager.list_connections(TENANT) == []


def test_update_asks_every_value_again_keeping_secrets_on_empty(env: dict[str, str],
                                                                 manager: CredentialManager) -> None:
    before = manager.get_connection_info(TENANT, "R")
    term = Terminal(env, "connections", "update", "--tenant", TENANT, "R")
    term.expect("Salesforce Instance URL [https://old.example]:")
    term.send("https://new.example")
    term.expect("Access Token (empty: keep):")
    term.send("")
    assert term.finish() == 0, term.seen
    assert "Updated 'R' (revenovaApi): values" in term.seen and "old-token-1234" not in term.seen
    assert manager.get_connection(TENANT, "R") == {"instanceUrl": "https://new.example",
                                                   "accessToken": "old-token-1234"}
    assert manager.get_connection_info(TENANT, "R").id == before.id


def test_reconnecting_a_working_connection_asks_first(env: dict[str, str], manager: CredentialManager) -> None:
    from fluxnex.api.connect import connect_oauth2
    from fluxnex.testing.pytest_plugin import browser_approve
    from fluxnex.testing.sandbox import SandboxProvider

    with SandboxProvider() as sandbox:
        connect_oauth2(manager, TENANT, "oAuth2Api", "O", sandbox.oauth2_data(), open_url=browser_approve)
        term = Terminal(env, "connect", "--tenant", TENANT, "--name", "O", "--no-browser")
        term.expect("Connection 'O' is ACTIVE: re-authorize it in place? [y/N]")
        term.send("n")
        assert term.finish() == 1 and "Aborted" in term.seen
        assert sandbox.token_requests.get("authorization_code") == 1  # nothing started
