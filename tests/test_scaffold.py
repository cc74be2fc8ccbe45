"""`fluxnex plugin new` scaffolds a distribution that installs, is discovered, and whose own tests pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import PluginVenv


def test_scaffolded_plugin_installs_is_discovered_and_its_tests_pass(tmp_path: Path, plugin_venv: PluginVenv) -> None:
    out = subprocess.run([sys.executable, "-m", "fluxnex", "plugin", "new", "Acme Freight", "--dir", str(tmp_path)],
                         capture_output=True, text=True, check=True, timeout=60)
    project = tmp_path / "fluxnex-acme-freight"
    assert str(project) in out.stdout
    assert (project / "src" / "fluxnex_acme_freight" / "__init__.py").exists()
    plugin_venv.install(project)
    types = plugin_venv.run("types", "list", "--json", check=True).stdout
    assert "acmeFreightApi" in types
    assert "fluxnex-acme-freight" in json.dumps(plugin_venv.plugins())
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}
    result = subprocess.run([str(plugin_venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(project / "tests")], capture_output=True, text=True, env=env, cwd=project,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "fluxnex", "plugin", "new", "acme", "--dir", str(tmp_path)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    again = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already exists" in again.stderr
