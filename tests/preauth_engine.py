"""What the pre-authentication differential test runs n8n's code with: the compiled credential classes of
n8n-nodes-base (``npm pack``, unpacked into the cache, never the repository) and the libraries they require
(jsonwebtoken, moment-timezone, at n8n-nodes-base's versions; n8n-workflow and @n8n/utils from the engine cache),
and oauth-1.0a, which n8n-core signs OAuth1 requests with."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from fluxnex.testing.n8n_catalog import N8N_NODES_BASE, cache_dir, engine_dir

__all__ = ["credentials_dir", "node_path"]

#: n8n-nodes-base 2.41.2's dependencies, and n8n-core 2.41.0's OAuth1 signer
_LIBRARIES = ("jsonwebtoken@9.0.3", "moment-timezone@0.5.48", "oauth-1.0a@2.2.6")


def credentials_dir() -> Path:
    """``package/dist/credentials`` of n8n-nodes-base, unpacked into the cache the first time."""
    target = cache_dir() / "sources" / N8N_NODES_BASE.replace("@", "-") / "package" / "dist" / "credentials"
    if (target / "OAuth1Api.credentials.js").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(f"npm is needed to fetch {N8N_NODES_BASE}'s credential classes")
    root = target.parents[2]
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        out = subprocess.run([npm, "pack", N8N_NODES_BASE, "--silent"], cwd=tmp, check=True, capture_output=True,
                             text=True, timeout=600)
        with tarfile.open(Path(tmp) / out.stdout.strip().splitlines()[-1]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/dist/credentials/")
                       and m.name.endswith(".js") and m.isfile()]
            tar.extractall(tmp, members=members, filter="data")
        unpacked = Path(tmp) / "package" / "dist" / "credentials"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)  # complete or absent
    return target


def node_path() -> str:
    """A ``NODE_PATH`` under which the classes find their libraries (installed with npm the first time)."""
    libraries = cache_dir() / "preauth-libraries"
    if not all((libraries / "node_modules" / lib.rsplit("@", 1)[0] / "package.json").is_file() for lib in _LIBRARIES):
        npm = shutil.which("npm")
        if npm is None:
            raise FileNotFoundError(f"npm is needed to install {', '.join(_LIBRARIES)}")
        libraries.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(libraries), *_LIBRARIES, "--no-audit", "--no-fund",
                        "--ignore-scripts", "--silent"], check=True, timeout=600)
    return os.pathsep.join([str(libraries / "node_modules"), str(engine_dir() / "node_modules")])
