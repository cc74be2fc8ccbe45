"""Differential test of the TLS options n8n applies at send time (:mod:`fluxnex.n8n.client_tls`).

``httpSslAuth``: n8n's HTTP Request node turns the credentials into the agent's options with ``setAgentOptions``
(``nodes/HttpRequest/GenericFunctions.js``: each truthy field, the PEM texts through ``@n8n/utils``'
``formatPemBlock``); ``tls_options`` must give the same ``ca``/``cert``/``key``/``passphrase`` for PEM blocks as
stored (multi-line), pasted on one line, with literal ``\\n``, legacy encrypted keys with ``Proc-Type`` headers,
chains, and text that is not PEM. ``gotifyApi``: the node's ``rejectUnauthorized`` against ``verify``. That the
options work on a real TLS connection is ``core/tests/test_session_tls_digest.py``'s part.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from code_engine_support import code_engine_dir
from fluxnex.n8n.client_tls import tls_options

from n8n_engine.test_node_auth_differential import _engine, _registry

pytestmark = pytest.mark.n8n_engine

HARNESS = Path(__file__).with_name("tls_options.cjs")

_BODY = ("MIIBszCCAVmgAwIBAgIUY2xpZW50LWNlcnQtZm9yLWZsdXhuZXgtdGVzdHMwCgYIKoZIzj0EAwIwGjEYMBYGA1UEAwwPRmx1"
         "eE5leCB0ZXN0IENBMB4")
_CERT = f"-----BEGIN CERTIFICATE-----\n{_BODY[:64]}\n{_BODY[64:]}\n-----END CERTIFICATE-----\n"
_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----"
_LEGACY = ("-----BEGIN RSA PRIVATE KEY----- Proc-Type: 4,ENCRYPTED DEK-Info: AES-256-CBC,0123456789ABCDEF "
           "MIIEpAIBAAKCAQEA1234 5678abcd -----END RSA PRIVATE KEY-----")
_PEMS = [
    _CERT,
    _CERT.strip().replace("\n", " "),  # pasted on one line, spaces for breaks
    _CERT.strip().replace("\n", "\\n"),  # literal \n (JSON-escaped once too often)
    f"-----BEGIN CERTIFICATE-----{_BODY}-----END CERTIFICATE-----",  # no breaks at all: rewrapped at 64
    f"  {_CERT.strip().replace(chr(10), '   ')}  ",
    _KEY.replace("\n", " "),
    "-----BEGIN EC PRIVATE KEY----- MHcCAQEEIA abc -----END EC PRIVATE KEY-----",
    _LEGACY,
    _LEGACY.replace(" Proc-Type", "\\nProc-Type"),
    (_CERT.strip() + _CERT.strip()).replace("\n", " "),  # a chain of two blocks on one line
    "-----BEGIN PUBLIC KEY----- MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE -----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE----- abc -----END PRIVATE KEY-----",  # mismatched labels
    "not a pem at all",
    "-----BEGIN X-----",
    "",
]


def _credentials() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"ca": "", "cert": "", "key": "", "passphrase": ""},
                                 {"ca": "", "cert": "", "key": "", "passphrase": "only the passphrase é"}]
    for i, pem in enumerate(_PEMS):
        out.append({"ca": pem, "cert": _PEMS[(i + 1) % len(_PEMS)], "key": _PEMS[(i + 5) % len(_PEMS)],
                    "passphrase": "p" if i % 2 else ""})
    return out


def _n8n(credentials: list[dict[str, Any]]) -> list[Any]:
    proc = subprocess.run(["node", str(HARNESS)], input=json.dumps(credentials), capture_output=True, text=True,
                          timeout=120, env={**os.environ, "N8N_CODE_ENGINE_DIR": str(code_engine_dir())})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout))


def _ours(credentials: dict[str, Any]) -> dict[str, str]:
    options = tls_options("httpSslAuth", credentials)
    assert options is not None and options.verify
    return {k: getattr(options, k) for k in ("ca", "cert", "key", "passphrase") if getattr(options, k)}


def test_http_ssl_auth_agent_options_match_n8n() -> None:
    registry = _registry()
    ct = registry.get("httpSslAuth")
    cases = [ct.effective_data(c) for c in _credentials()]
    theirs = _n8n(cases)
    mismatches = [{"credentials": c, "ours": _ours(c), "n8n": t} for c, t in zip(cases, theirs, strict=True)
                  if _ours(c) != t]
    print(f"httpSslAuth agent options: {len(cases)} cases, {len(mismatches)} mismatches")
    assert not mismatches, json.dumps(mismatches[:3], indent=1)
    assert any(t and "\n" in (t.get("cert") or "") and "\n" not in c["cert"] for c, t in zip(cases, theirs))


def test_gotify_reject_unauthorized_matches_verify() -> None:
    registry = _registry()
    ct = registry.get("gotifyApi")
    jobs = [ct.effective_data({"appApiToken": "a", "clientApiToken": "c", "url": "https://g.example",
                               **({} if ignore is None else {"ignoreSSLIssues": ignore})})
            for ignore in (None, False, True)]
    results = _engine([{"module": "nodes/Gotify/GenericFunctions.js", "function": "gotifyApiRequest",
                        "args": ["GET", "/message"], "credentials": c, "params": {}, "responses": []} for c in jobs])
    theirs = [r["requests"][0]["options"]["rejectUnauthorized"] for r in results]
    options = [tls_options("gotifyApi", c) for c in jobs]
    assert theirs == [o is None or o.verify for o in options] == [True, True, False]
