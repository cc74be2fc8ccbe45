"""docs/api.md: generated from the docstrings, current, naming every public name; its worked examples run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import fluxnex
import fluxnex.connect

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("api_docs", ROOT / "tools" / "api_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_is_current() -> None:
    generated = _generator().generate()  # type: ignore[attr-defined]
    assert DOC.read_text(encoding="utf-8") == generated, "docs/api.md is stale: run `python tools/api_docs.py`"


def test_every_public_name_has_a_heading() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = [f"fluxnex.{n}" for n in fluxnex.__all__] + [f"fluxnex.connect.{n}" for n in fluxnex.connect.__all__]
    missing = [n for n in names if f"### `{n}" not in text]
    assert not missing and len(names) > 20, missing
    for task in ("Create a connection", "Read a connection", "Use a session", "Reconnect an expired connection",
                 "Rotate keys"):
        assert f"### {task}\n" in text


def test_the_worked_examples_run() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "api_tasks.py")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "re-encrypted under k2" in proc.stdout and "reconnect it with `fluxnex connect" in proc.stdout


def test_the_readme_quick_start_starts_with_a_virtual_environment() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text[text.index("## Quick start"):text.index("## Concepts")]
    assert "PEP 668" in quick
    assert quick.index("python3 -m venv .venv && . .venv/bin/activate") < quick.index("python3 -m pip install ./core")


def test_the_recovery_outputs_the_docs_quote_are_the_codes() -> None:
    ops = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    source = (ROOT / "core" / "src" / "fluxnex" / "cli" / "_changes.py").read_text(encoding="utf-8")
    for quoted in ("Refreshed ", "Nothing to refresh", "nothing_to_refresh"):
        assert quoted in ops and quoted in source
