"""The connect service (optional extra ``fluxnex-core[server]``): an HTTP API and hosted connect pages.

``create_app(manager, ServiceConfig(...))`` returns a Starlette (ASGI) application; ``fluxnex serve`` runs it on
uvicorn. Nothing in ``fluxnex`` imports this package: worker runtimes that import the manager never load the
web stack.
"""

from __future__ import annotations

from ._app import create_app
from ._config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
