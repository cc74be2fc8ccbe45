"""The import paths from before the layer folders keep working: ``fluxnex.crypto`` is ``fluxnex.storage.crypto``.

A finder on ``sys.meta_path`` maps each old dotted name, and every name below it (``fluxnex.store._engine``), to
the module in its layer folder. The old name is the same module object as the new one, imported on first use,
so monkeypatching either patches both and the tree holds no shim files. New code imports the new paths
(``lint-imports`` checks only those).
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Final, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

_LAYERS: Final = {
    "contract": ("errors", "schema", "hookspecs", "plugins", "definitions", "_trace"),
    "n8n": (
        "display_options", "validation", "authenticate", "_base_types", "expression_marks", "domains", "expressions",
    ),
    "storage": ("crypto", "key_fingerprints", "config", "store", "rotation", "bound_names"),
    "lifecycle": (
        "oauth2", "oauth2_metadata", "tokens", "heartbeat", "refresh", "refresh_checks", "refresh_write",
        "recovery", "refresher", "_http", "builtin",
    ),
    "api": ("manager", "session", "connection_test", "connection_info", "connect"),
}
MOVED: Final = {f"fluxnex.{name}": f"fluxnex.{layer}.{name}" for layer, names in _LAYERS.items() for name in names}


def new_name(old: str) -> str | None:
    """The module an old dotted name now lives in, or None when it did not move."""
    head, _, _ = old.partition(".")
    if head != "fluxnex":
        return None
    parts = old.split(".")
    moved = MOVED.get(".".join(parts[:2]))
    if moved is None:
        return None
    return ".".join([moved, *parts[2:]])


class _MovedFinder:
    """Finds an old name and loads it as the new module (the same object in ``sys.modules`` under both)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        new = new_name(fullname)
        return None if new is None else ModuleSpec(fullname, cast("Loader", self), loader_state=new)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(spec.loader_state)
        spec.loader_state = module.__spec__  # put back by exec_module: the import system sets __spec__ to ours
        return module

    def exec_module(self, module: ModuleType) -> None:
        alias = module.__spec__
        if alias is not None and isinstance(alias.loader_state, ModuleSpec):
            module.__spec__ = alias.loader_state


_FINDER: Final = _MovedFinder()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(finder is _FINDER for finder in sys.meta_path):
        sys.meta_path.insert(0, _FINDER)
