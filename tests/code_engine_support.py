"""n8n's own credential classes for differential tests: n8n-nodes-base's compiled ``dist/`` and the packages its
code-authenticated credentials require, fetched with npm once into a cache outside the repository.

Without node or npm this raises: a suite never passes by quietly not running what it needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from fluxnex.testing.n8n_catalog import N8N_NODES_BASE

#: What ``dist/credentials`` requires, at n8n-nodes-base 2.41.2's pins; where the registry lacks the pinned
#: patch release (``@n8n/config`` 2.39.1, ``@n8n/backend-network`` 1.15.2) the release before it.
DEPENDENCIES = (
    "n8n-workflow@2.41.0", "jsonwebtoken@9.0.3", "moment-timezone@0.5.48", "change-case@5.4.4", "lodash@4.17.21",
    "@n8n/di@0.17.0", "@n8n/config@2.39.0", "@n8n/utils@1.48.0", "@n8n/backend-network@1.15.1", "aws4@1.11.0",
    "@smithy/signature-v4@5.7.2", "@smithy/protocol-http@5.3.12", "@smithy/node-http-handler@4.5.0",
    "@aws-crypto/sha256-js@5.2.0", "@aws-sdk/credential-providers@3.808.0",
    # what dist/nodes/Telegram requires (n8n-core: 2.41.2 is not published, the release before it)
    "n8n-core@2.41.1", "isbot@3.6.13", "basic-auth@2.0.1", "sanitize-html@2.17.7",
)
_KEEP = ("package/package.json", "package/dist/credentials/", "package/dist/utils/", "package/dist/nodes/")
_MARK = "n8n-nodes-base/dist/credentials/Aws.credentials.js"


def code_engine_dir() -> Path:
    """A folder holding ``n8n-nodes-base/`` (the package) and ``node_modules/`` (its credentials' dependencies),
    under FLUXNEX_N8N_CODE_ENGINE_CACHE (default ~/.cache/fluxnex/n8n-code-engine)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise FileNotFoundError(f"node and npm are needed to run n8n's credential classes ({N8N_NODES_BASE})")
    base = os.environ.get("FLUXNEX_N8N_CODE_ENGINE_CACHE") or Path.home() / ".cache" / "fluxnex" / "n8n-code-engine"
    target = Path(base)
    target.mkdir(parents=True, exist_ok=True)
    stamp = target / "node_modules" / ".fluxnex-deps"
    if not stamp.is_file() or stamp.read_text() != "\n".join(DEPENDENCIES):
        subprocess.run([npm, "install", "--prefix", str(target), *DEPENDENCIES, "--no-audit", "--no-fund",
                        "--ignore-scripts", "--silent", "--no-save"], check=True, timeout=600)
        stamp.write_text("\n".join(DEPENDENCIES))
    if not (target / _MARK).is_file():
        with tempfile.TemporaryDirectory(dir=target) as tmp:
            out = subprocess.run([npm, "pack", N8N_NODES_BASE, "--silent"], cwd=tmp, check=True,
                                 capture_output=True, text=True, timeout=600)
            tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
            unpacked = Path(tmp) / "x"
            with tarfile.open(tarball) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(_KEEP) and (m.isfile() or m.isdir())]
                tar.extractall(unpacked, members=members, filter="data")
            shutil.rmtree(target / "n8n-nodes-base", ignore_errors=True)
            (unpacked / "package").rename(target / "n8n-nodes-base")  # the Aws class last: marks it complete
    return target
