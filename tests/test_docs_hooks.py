"""docs/plugin-authoring.md documents every hookspec under a heading with its exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from fluxnex.contract import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugin-authoring.md"


def hookspec_signatures() -> dict[str, str]:
    out = {}
    for name, fn in vars(hookspecs).items():
        if inspect.isfunction(fn) and hasattr(fn, "fluxnex_spec"):
            params = ", ".join(inspect.signature(fn).parameters)
            out[name] = f"{name}({params})"
    return out


def test_every_hookspec_is_documented_with_its_signature() -> None:
    headings = set(re.findall(r"^### (\S.*?)\s*$", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    specs = hookspec_signatures()
    assert len(specs) >= 5
    missing = sorted(sig for sig in specs.values() if sig not in headings)
    assert not missing, f"undocumented hooks (add a '### signature' heading): {missing}"


def test_tutorial_ends_with_troubleshooting() -> None:
    text = DOC.read_text(encoding="utf-8")
    tail = text[text.index("## When it breaks"):]
    for needle in ("FLUXNEX_LOAD_PLUGINS", "FLUXNEX_TRACE_PLUGINS", "fluxnex plugins", "fluxnex plugin new"[:14]):
        assert needle in tail or needle in text
