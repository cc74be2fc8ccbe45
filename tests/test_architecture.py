"""The layout is the architecture: docs/architecture.md's diagram, the folders of fluxnex and the import-linter
contracts name the same layers in the same order, and the import graph (imports inside functions, under
TYPE_CHECKING and modules named in strings included) has no cycle and runs downward only."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "core" / "src"
PACKAGE = SRC / "fluxnex"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
#: The one module that loads code above its layer, by name, as entry points are loaded (docs/architecture.md).
LOADS_BY_NAME = {"fluxnex.contract.builtins", "fluxnex._moved"}
MAX_LINES = 410


# -- the diagram ------------------------------------------------------------------------------------------------

def diagram_layers() -> list[tuple[list[str], list[str]]]:
    """The diagram's rows, top (entry points) first: (folders, folders marked as coming)."""
    section = DOC[DOC.index("## Layers"):]
    block = section[section.index("```\n") + 4:]
    block = block[: block.index("```")]
    rows = []
    for line in block.splitlines():
        folders = line.split("  ", 1)[1] if line.startswith("  ") else ""
        left = re.split(r"\s{4,}\d ", folders)[0] if re.search(r"\s\d ", folders) else ""
        coming = re.findall(r"\((\w+)/: coming\)", left)
        present = [f for f in re.findall(r"(\w+)/", re.sub(r"\(\w+/: coming\)", "", left))]
        if present or coming:
            rows.append((present, coming))
    return rows


def layer_folders_on_disk() -> set[str]:
    return {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}


def test_the_diagram_names_every_folder_and_nothing_else() -> None:
    rows = diagram_layers()
    assert len(rows) == 7, rows
    drawn = {f for present, _ in rows for f in present}
    coming = {f for _, c in rows for f in c}
    on_disk = layer_folders_on_disk()
    assert drawn == on_disk, f"docs/architecture.md's diagram shows {sorted(drawn)}, the tree has {sorted(on_disk)}"
    assert not coming & on_disk, f"{sorted(coming & on_disk)} exist now: drop ': coming' from the diagram"
    for folder in on_disk:  # each layer's rule is written down
        assert f"`fluxnex/{folder}/`" in DOC, folder


def test_the_diagram_is_the_import_linter_layers_contract() -> None:
    [layers] = [c for c in CONTRACTS["contracts"] if c["type"] == "layers"]
    assert layers["containers"] == ["fluxnex"] and layers["exhaustive"] is True
    contract = [sorted(re.split(r"\s*[:|]\s*", layer)) for layer in layers["layers"]]
    assert contract == [sorted(present) for present, _ in diagram_layers()]
    assert {"acyclic_siblings"} <= {c["type"] for c in CONTRACTS["contracts"]}


def test_the_lint_session_runs_lint_imports() -> None:
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    lint = noxfile[noxfile.index("def lint("):]
    lint = lint[: lint.index("\n@nox.session")]
    assert '"import-linter"' in lint and '"lint-imports"' in lint


# -- the import graph -------------------------------------------------------------------------------------------

def _modules(src: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(src.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _target(name: str, modules: Iterable[str]) -> str | None:
    known = set(modules)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(src: Path, *, names_in_strings: bool = True) -> dict[str, set[str]]:
    """Module -> the modules it imports: every import statement anywhere in the module (functions and
    TYPE_CHECKING blocks included), and with ``names_in_strings`` every string that is a module's dotted name
    (lazy ``__getattr__`` maps, ``import_module`` calls), except in the modules allowed to load by name."""
    modules = _modules(src)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        logger_names = {  # getLogger("fluxnex.x"): a name, not an import
            id(arg) for call in ast.walk(tree) if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute | ast.Name)
            and getattr(call.func, "attr", getattr(call.func, "id", "")) == "getLogger" for arg in call.args
        }
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = module.split(".") if is_package else module.split(".")[:-1]
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                names = subs + ([base] if len(subs) < len(node.names) else [])
            elif (names_in_strings and module not in LOADS_BY_NAME and isinstance(node, ast.Constant)
                  and isinstance(node.value, str) and node.value.partition(":")[0] in modules
                  and id(node) not in logger_names):
                names = [node.value.partition(":")[0]]
            for name in names:
                target = _target(name, modules) if name.startswith("fluxnex") else None
                if target is not None and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_of_fluxnex_has_no_cycle() -> None:
    graph = import_graph(SRC)
    assert len(graph) > 90 and sum(map(len, graph.values())) > 250  # it read the whole package
    assert cycles(graph) == []


def test_imports_run_downward_only_even_inside_functions_and_in_strings() -> None:
    order = {folder: rank for rank, (present, _) in enumerate(reversed(diagram_layers())) for folder in present}

    def layer(module: str) -> int | None:
        parts = module.split(".")
        return order.get(parts[1]) if len(parts) > 1 else None

    upward = [
        f"{a} -> {b}" for a, targets in import_graph(SRC).items() for b in sorted(targets)
        if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)  # type: ignore[operator]
    ]
    assert upward == []


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "fluxnex"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fluxnex import b\n"
    )
    (pkg / "b.py").write_text("def f():\n    from .low.a import x\n")
    (pkg / "c.py").write_text("_LAZY = {'thing': 'fluxnex.d'}\n")
    (pkg / "d.py").write_text("import fluxnex.c\n")
    assert cycles(import_graph(tmp_path)) == [["fluxnex.b", "fluxnex.low.a"], ["fluxnex.c", "fluxnex.d"]]
    assert cycles(import_graph(tmp_path, names_in_strings=False)) == [["fluxnex.b", "fluxnex.low.a"]]


def test_main_before_the_layout_had_the_cycles_of_issue_12(tmp_path: Path) -> None:
    """The detector on the pre-layout tree (as git holds it): the 13-module loop and the sandbox pair."""
    import io
    import subprocess
    import tarfile

    base = "cb60223"  # main just before the layout
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", base, "core/src/fluxnex"], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"git history without {base}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp_path, filter="data")
    found = cycles(import_graph(tmp_path / "core" / "src"))
    assert any({"fluxnex.manager", "fluxnex.connection_test", "fluxnex.plugins", "fluxnex.builtin"} <= set(c)
               for c in found)
    assert ["fluxnex.testing._sandbox_http", "fluxnex.testing.sandbox"] in found


def test_only_the_builtins_table_loads_code_by_name() -> None:
    """Lazy maps name modules of their own package or below; contract/builtins.py is the declared exception."""
    offenders = []
    for module, path in _modules(SRC).items():
        if module in LOADS_BY_NAME:
            continue
        text = path.read_text(encoding="utf-8")
        if "importlib.import_module(" in text and "_LAZY" not in text and "_COMMANDS" not in text:
            offenders.append(module)
    assert offenders == []


def test_modules_stay_small() -> None:
    lengths = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in _modules(SRC).items()}
    assert {m: n for m, n in lengths.items() if n > MAX_LINES} == {}
