"""n8n's own engine for differential tests: n8n-workflow from npm, installed once into a cache outside the repo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

N8N_WORKFLOW = "n8n-workflow@2.41.0"  # the version n8n-nodes-base@2.41.2 depends on


def engine_dir() -> Path:
    """The folder whose node_modules holds n8n-workflow (FLUXNEX_N8N_ENGINE_CACHE, else ~/.cache/fluxnex)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm/node are not installed: cannot run n8n's engine")
    base = os.environ.get("FLUXNEX_N8N_ENGINE_CACHE") or Path.home() / ".cache" / "fluxnex" / "n8n-engine"
    target = Path(base)
    if not (target / "node_modules" / "n8n-workflow" / "package.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(target), N8N_WORKFLOW, "--no-audit", "--no-fund",
                        "--ignore-scripts", "--silent"], check=True, timeout=600)
    return target
