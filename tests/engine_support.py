"""n8n's own engine for differential tests: n8n-workflow from npm, installed once into a cache outside the repo."""

from __future__ import annotations

from fluxnex.testing.n8n_catalog import N8N_WORKFLOW, engine_dir

__all__ = ["N8N_WORKFLOW", "engine_dir"]
