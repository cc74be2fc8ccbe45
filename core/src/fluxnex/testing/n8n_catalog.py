"""Locate n8n's credential catalog (``n8n-nodes-base``'s credentials.json) and n8n's own engine
(``n8n-workflow``, for differential tests), fetching each with npm once into a cache outside the repository.

Neither skips: without npm they raise, so a suite never passes by quietly not running what it needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

N8N_NODES_BASE = "n8n-nodes-base@2.41.2"
N8N_WORKFLOW = "n8n-workflow@2.41.0"  # the version n8n-nodes-base@2.41.2 depends on
_MEMBER = "package/dist/types/credentials.json"
_PACKAGE_JSON = "package/package.json"


def cache_dir() -> Path:
    """Return the cache directory (FLUXNEX_N8N_CACHE, default ~/.cache/fluxnex/n8n)."""
    return Path(os.environ.get("FLUXNEX_N8N_CACHE") or Path.home() / ".cache" / "fluxnex" / "n8n")


def catalog_path() -> Path:
    """Return the path of credentials.json, running ``npm pack`` into the cache the first time."""
    target = cache_dir() / _MEMBER
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(f"npm is needed to fetch {N8N_NODES_BASE} (n8n's credential catalog)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        out = subprocess.run([npm, "pack", N8N_NODES_BASE, "--silent"], cwd=tmp, check=True,
                             capture_output=True, text=True, timeout=600)
        tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            # package.json first: it names the version the catalog reports; credentials.json last, since its
            # presence is what marks the cache complete
            for name in (_PACKAGE_JSON, _MEMBER):
                member = tar.extractfile(name)
                if member is None:
                    raise FileNotFoundError(f"{name} missing from {N8N_NODES_BASE}")
                destination = cache_dir() / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                partial = destination.with_suffix(".json.part")
                partial.write_bytes(member.read())
                partial.replace(destination)
    return target


def engine_dir() -> Path:
    """The folder whose node_modules holds n8n-workflow (FLUXNEX_N8N_ENGINE_CACHE, else ~/.cache/fluxnex),
    installed with npm the first time; raises ``FileNotFoundError`` when node or npm is missing."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise FileNotFoundError(f"node and npm are needed to run n8n's engine ({N8N_WORKFLOW})")
    base = os.environ.get("FLUXNEX_N8N_ENGINE_CACHE") or Path.home() / ".cache" / "fluxnex" / "n8n-engine"
    target = Path(base)
    if not (target / "node_modules" / "n8n-workflow" / "package.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(target), N8N_WORKFLOW, "--no-audit", "--no-fund",
                        "--ignore-scripts", "--silent"], check=True, timeout=600)
    return target
