"""FluxNex's pytest plugin (entry point ``pytest11``): fixtures for plugin authors.

* ``fluxnex_manager``: a ``CredentialManager`` on a fresh SQLite file in ``tmp_path`` with a generated key.
* ``sandbox_provider``: a started :class:`~fluxnex.testing.sandbox.SandboxProvider`, stopped afterwards.
* ``register_plugin``: a function that registers a plugin object or module (and its credential types) in the
  current registry for the duration of the test.
* ``follow_redirects``: an ``open_url`` for ``connect_oauth2`` that approves at the provider like a browser.

See ``docs/plugin-authoring.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fluxnex.api.manager import CredentialManager
    from fluxnex.testing.sandbox import SandboxProvider

__all__ = ["browser_approve", "fluxnex_manager", "follow_redirects", "register_plugin", "sandbox_provider"]


def browser_approve(url: str) -> None:
    """Open an authorization URL and deliver the provider's redirect to its target, as a browser would."""
    import requests

    consent = requests.get(url, allow_redirects=False, timeout=10)
    if consent.status_code not in (301, 302, 303, 307, 308):
        raise AssertionError(f"the provider answered {consent.status_code} instead of redirecting")
    requests.get(consent.headers["Location"], timeout=10)


@pytest.fixture
def follow_redirects() -> Callable[[str], None]:
    """An ``open_url`` for ``fluxnex.api.connect.connect_oauth2`` that approves at the provider."""
    return browser_approve


@pytest.fixture
def fluxnex_manager(tmp_path: Path) -> Iterator[CredentialManager]:
    """A temporary ``CredentialManager``: SQLite in ``tmp_path`` and a freshly generated key."""
    from fluxnex.api.manager import CredentialManager
    from fluxnex.storage.crypto import generate_key_line

    manager = CredentialManager(f"sqlite:///{tmp_path / 'fluxnex-test.db'}", generate_key_line("test"))
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture
def sandbox_provider() -> Iterator[SandboxProvider]:
    """A started sandbox OAuth2 provider (reconfigure it with ``configure(...)``); stopped afterwards."""
    from fluxnex.testing.sandbox import SandboxProvider

    with SandboxProvider() as provider:
        yield provider


@pytest.fixture
def register_plugin() -> Iterator[Callable[..., list[str]]]:
    """Return ``register(plugin, name=None) -> type names``; every plugin registered is removed afterwards."""
    from fluxnex.contract.plugins import PluginInfo, get_registry

    registry = get_registry()
    added: list[tuple[Any, list[str]]] = []

    def register(plugin: Any, name: str | None = None) -> list[str]:
        label = name or getattr(plugin, "__name__", None) or f"test-plugin-{id(plugin)}"
        registry.plugin_manager.register(plugin, name=label)
        collected: list[Any] = []
        try:
            for impl in registry.plugin_manager.hook.register_credential_types.get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(**({"register": collected.append} if "register" in impl.argnames else {}))
            names = registry.add(collected, PluginInfo(label, f"test:{label}", "0"))
        except BaseException:
            registry.plugin_manager.unregister(plugin)
            raise
        added.append((plugin, names))
        return names

    try:
        yield register
    finally:
        for plugin, names in reversed(added):
            registry.plugin_manager.unregister(plugin)
            with registry._lock:
                for type_name in names:
                    registry._entries.pop(type_name, None)
                registry._resolved.clear()
