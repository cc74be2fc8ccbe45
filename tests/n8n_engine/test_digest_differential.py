"""Differential test of ``httpDigestAuth``: n8n's own digest code (``@n8n/backend-network``'s request path, which
the HTTP Request node's ``auth: {user, pass, sendImmediately: false}`` takes: ``invokeAxios`` and
``digestAuthAxiosConfig``) and FluxNex's session, each against the same live digest server
(``core/tests/test_session_tls_digest.py``'s, RFC 2617 ``qop=auth``). Compared per case: whether the server
accepted it, that the first request carried no credentials, and the challenge answer's fields (``username``,
``realm``, ``nonce``, ``uri``, ``qop``, ``algorithm``, ``opaque``); ``cnonce`` is random, ``response`` follows from
it, and n8n writes ``nc`` with nine digits where RFC 2617 has eight (the server takes either as sent).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import *  # noqa: F403 - the manager fixture
from code_engine_support import code_engine_dir
from fluxnex.api.manager import CredentialManager
from test_session_tls_digest import _Server

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).with_name("digest.cjs")
TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000d7")
ACCOUNT = ("ané", "pa:ss é")
_COMPARED = ("username", "realm", "nonce", "uri", "qop", "algorithm", "opaque")
_CASES = [(ACCOUNT, "/dir/index.html"), (ACCOUNT, "/dir/x?q=1&r=a%20b"), (ACCOUNT, "/a%20b/%C3%A9"),
          (("ané", "wrong"), "/dir/index.html"), (("other", "pa:ss é"), "/dir/index.html"), (("ané", ""), "/e")]


def _fields(header: str | None) -> dict[str, str] | None:
    if header is None:
        return None
    assert header.startswith("Digest ")
    found = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])}
    return {k: found.get(k, "") for k in _COMPARED}


def _attempts(server: _Server, start: int) -> list[dict[str, str] | None]:
    return [_fields(next((v for k, v in s["headers"].items() if k.lower() == "authorization"), None))
            for s in server.seen[start:]]


def test_digest_answers_the_challenge_as_n8n_does(manager: CredentialManager) -> None:
    server = _Server(None, digest=ACCOUNT)
    try:
        theirs: list[Any] = []
        for (user, password), path in _CASES:
            start = len(server.seen)
            proc = subprocess.run(["node", str(HARNESS)], capture_output=True, text=True, timeout=120,
                                  input=json.dumps([{"uri": server.url + path, "user": user, "pass": password}]),
                                  env={**os.environ, "N8N_CODE_ENGINE_DIR": str(code_engine_dir())})
            assert proc.returncode == 0, proc.stderr[-2000:]
            theirs.append((json.loads(proc.stdout)[0]["status"], _attempts(server, start)))
        ours: list[Any] = []
        for i, ((user, password), path) in enumerate(_CASES):
            manager.create_connection(TENANT, "httpDigestAuth", f"d{i}", {"user": user, "password": password})
            start = len(server.seen)
            with manager.session(TENANT, f"d{i}") as http:
                status = http.get(server.url + path).status_code
            ours.append((status, _attempts(server, start)))
    finally:
        server.close()
    print(f"httpDigestAuth: {len(_CASES)} cases, {sum(a != b for a, b in zip(ours, theirs))} mismatches")
    assert ours == theirs
    assert [status for status, _ in ours] == [200, 200, 200, 401, 401, 401]
    assert all(attempts[0] is None and attempts[1] is not None for _, attempts in ours)
