"""Every expression in n8n's credential catalog parses (count reported)."""

from __future__ import annotations

import json

from fluxnex.n8n.expressions import find_expressions, parse
from fluxnex.testing.n8n_catalog import catalog_path


def test_every_catalog_expression_parses() -> None:
    catalog = json.loads(catalog_path().read_text())
    expressions = {e for ctype in catalog for e in find_expressions(ctype)}
    for expr in sorted(expressions):
        parse(expr)
    print(f"{len(expressions)} distinct catalog expressions parsed")
    assert len(expressions) >= 200
