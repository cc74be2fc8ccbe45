"""``Service``: what every request handler of the connect service shares."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from fluxnex.contract.errors import FluxnexError
from fluxnex.server._auth import RateLimiter
from fluxnex.server._config import ServiceConfig
from fluxnex.server._problems import Problem, problem_for
from fluxnex.storage.store._service import ServiceStore

if TYPE_CHECKING:
    from fluxnex.api.manager import CredentialManager
    from fluxnex.storage.store._prompt import PromptReader

__all__ = ["Service"]

_HERE = Path(__file__).parent
_TOUCH_EVERY = 60.0


class Service:
    """What every request handler shares: the manager, the config, the service tables, the limiter, templates."""

    def __init__(self, manager: CredentialManager, config: ServiceConfig) -> None:
        self.manager = manager
        self.config = config
        self.rows = ServiceStore(manager.store)
        self.limiter = RateLimiter(*config.rate_limit)
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True)
        self._touched: dict[uuid.UUID, float] = {}
        self._sessions_made = 0
        self.rows.purge_expired()  # sessions and states that expired over a day ago
        #: the event loop's own connection for reads that need no refresh (None: every request takes a thread)
        self.prompt: PromptReader | None = None
        if config.loop_reads:
            from fluxnex.storage.store._prompt import PromptReader

            self.prompt = PromptReader(manager.store, config.loop_read_timeout)
            self.prompt.open()

    def session_made(self) -> None:
        """Count a new connect session; every 500th also purges long-expired sessions and states."""
        self._sessions_made += 1
        if self._sessions_made % 500 == 0:
            self.rows.purge_expired()

    def touch_due(self, key_id: uuid.UUID, now: float) -> bool:
        """Whether to record the key's last use now: at most once a minute per process (not on every request)."""
        if now - self._touched.get(key_id, -_TOUCH_EVERY) >= _TOUCH_EVERY:
            self._touched[key_id] = now
            return True
        return False

    def problem(self, exc: FluxnexError) -> Problem:
        """The problem of a library error."""
        return problem_for(exc)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(ok, body): the database answers and is at the migrations' head."""
        from fluxnex.storage.store._schema_check import fast_head_revision

        head = fast_head_revision()
        try:
            with self.manager.store.engine.connect() as conn:
                revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except Exception as exc:
            return False, {"status": "unavailable", "database": "unreachable", "revision": None, "head": head,
                           "detail": type(exc).__name__}
        ok = revision == head
        body = {"status": "ok" if ok else "unavailable", "database": "reachable", "revision": revision, "head": head}
        if not ok:
            body["detail"] = "migrations are not current: run `fluxnex db upgrade`"
        return ok, body
