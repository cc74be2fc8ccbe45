"""Fixtures for cross-package tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import PluginVenv


@pytest.fixture
def plugin_venv(tmp_path: Path) -> PluginVenv:
    """A fresh venv that sees the test environment's packages."""
    return PluginVenv(tmp_path / "venv")


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """n8n's catalog for this process and the processes it spawns (``FLUXNEX_N8N_CATALOG``), registry reset."""
    from fluxnex.contract.plugins import reset_registry
    from fluxnex.testing.n8n_catalog import catalog_path

    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    reset_registry()
    yield
    reset_registry()
