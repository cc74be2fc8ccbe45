"""Every import path the docs name works, from its documented place; every pre-layout module path is the module
in its layer folder (the same object), so code written against the old paths keeps working unchanged."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import fluxnex
import pytest
from fluxnex import _moved

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [*(ROOT / "docs").glob("*.md"), *(ROOT / "docs" / "examples").glob("*.py"), ROOT / "README.md",
     ROOT / "core" / "README.md", *(ROOT / "plugins").glob("*/README.md")]
)
FILE_NAMES = {"fluxnex.db", "fluxnex.key"}  # files in FLUXNEX_HOME, not modules
FROM_IMPORT = re.compile(r"^\s*from (fluxnex[\w.]*) import ([\w, ]+)", re.MULTILINE)
DOTTED = re.compile(r"(?<![\w./-])(fluxnex(?:\.\w+)+)(?![\w*])")  # not a pattern like fluxnex.x.MAX_*


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def documented_imports() -> list[tuple[str, str]]:
    """(module, name) of every ``from fluxnex... import name`` in the docs, the examples and the READMEs."""
    found = {(m, n.strip()) for doc in DOCUMENTS for m, names in FROM_IMPORT.findall(_text(doc))
             for n in names.split(",") if n.strip()}
    return sorted(found)


def documented_dotted_names() -> list[str]:
    """Every ``fluxnex.x.y`` the docs mention (modules, and names in modules)."""
    return sorted({n for doc in DOCUMENTS for n in DOTTED.findall(_text(doc)) if n not in FILE_NAMES})


def resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted`` and look the rest up as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_docs_name_the_paths_we_promised_to_keep() -> None:
    names = set(documented_dotted_names()) | {m for m, _ in documented_imports()}
    for path in ("fluxnex.crypto", "fluxnex.rotation", "fluxnex.connect", "fluxnex.testing.sandbox",
                 "fluxnex.errors", "fluxnex.expressions", "fluxnex.store", "fluxnex.n8n"):
        assert any(n == path or n.startswith(path + ".") for n in names), path
    assert len(documented_imports()) >= 8


@pytest.mark.parametrize(("module", "name"), documented_imports())
def test_each_documented_import_works(module: str, name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"from {module} import {name}", namespace)  # exactly the statement the docs show
    assert namespace[name] is not None


@pytest.mark.parametrize("dotted", documented_dotted_names())
def test_each_documented_dotted_name_resolves(dotted: str) -> None:
    assert resolve(dotted) is not None


@pytest.mark.parametrize(("old", "new"), sorted(_moved.MOVED.items()))
def test_an_old_module_path_is_the_module_in_its_layer(old: str, new: str) -> None:
    moved = importlib.import_module(old)
    assert moved is importlib.import_module(new) is sys.modules[old]
    assert moved.__name__ == new and moved.__spec__ is not None and moved.__spec__.name == new
    public = getattr(moved, "__all__", None) or [n for n in vars(moved) if not n.startswith("_")]
    for name in public:  # `from old import name` gives the very object the new module holds
        assert getattr(importlib.import_module(old), name) is getattr(moved, name)


def test_names_below_an_old_package_path_are_moved_too() -> None:
    import fluxnex.expressions._jsvalues as old_values
    import fluxnex.n8n.expressions._jsvalues as new_values
    import fluxnex.storage.store._engine as new_engine
    import fluxnex.store._engine as old_engine

    assert old_engine is new_engine and old_values is new_values
    from fluxnex.manager import CredentialManager, with_token_expiry
    from fluxnex.plugins import PluginInfo, TypeRegistry, get_registry

    assert CredentialManager is fluxnex.CredentialManager and get_registry is fluxnex.get_registry
    assert with_token_expiry.__module__ == "fluxnex.lifecycle.tokens"
    assert PluginInfo.__module__ == TypeRegistry.__module__ == "fluxnex.contract.plugins"


def test_an_unknown_name_is_still_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("fluxnex.no_such_module")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("fluxnex.crypto.no_such_module")


def test_old_paths_work_in_a_fresh_interpreter_and_import_fluxnex_stays_light() -> None:
    code = (
        "import sys\n"
        "import fluxnex\n"
        "heavy = [m for m in ('sqlalchemy', 'requests', 'cryptography', 'fluxnex.api', 'fluxnex.storage') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from fluxnex.crypto import generate_key_line\n"
        "from fluxnex.connect import connect_oauth2\n"
        "from fluxnex.testing.sandbox import SandboxProvider\n"
        "import fluxnex.storage.crypto as c\n"
        "assert generate_key_line is c.generate_key_line\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_entry_points_core_declares_resolve() -> None:
    project = tomllib.loads(_text(ROOT / "core" / "pyproject.toml"))["project"]
    targets = [*project["scripts"].values(), *project["entry-points"]["pytest11"].values()]
    for target in targets:
        module, _, attribute = target.partition(":")
        loaded = importlib.import_module(module)
        assert attribute == "" or callable(getattr(loaded, attribute))
