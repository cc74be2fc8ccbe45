"""Fixtures for cross-package tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import PluginVenv


@pytest.fixture
def plugin_venv(tmp_path: Path) -> PluginVenv:
    """A fresh venv that sees the test environment's packages."""
    return PluginVenv(tmp_path / "venv")
