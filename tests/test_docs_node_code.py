"""docs/n8n.md's section on node-code types states what ``fluxnex.n8n.code_auth.nodes`` implements."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from fluxnex.n8n.code_auth import nodes

N8N = (Path(__file__).resolve().parents[1] / "docs" / "n8n.md").read_text(encoding="utf-8")
SECTION = N8N[N8N.index("## Node-code types"):N8N.index("## Which values are expressions")]


def test_the_module_table_lists_each_modules_types() -> None:
    families = {info.name: importlib.import_module(f"{nodes.__name__}.{info.name}")
                for info in pkgutil.iter_modules(nodes.__path__) if not info.name.startswith("_")}
    rows = {m.group(1): set(re.findall(r"`(\w+)`", m.group(2)))
            for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", SECTION, re.MULTILINE)}
    assert set(rows) == set(families)
    for name, module in families.items():
        assert rows[name] == set(module.NODES), name
    assert set().union(*rows.values()) == nodes.implemented()
    assert "fluxnex.n8n.code_auth.nodes.implemented()" in SECTION
