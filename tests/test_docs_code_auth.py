"""docs/n8n.md's section on code-authenticated types states what ``fluxnex.n8n.code_auth`` implements."""

from __future__ import annotations

import re
from pathlib import Path

from fluxnex.n8n.code_auth import (
    api_keys,
    aws,
    azure,
    by_request,
    implemented,
    jwt_auth,
    templated,
    token_exchange,
)
from fluxnex.n8n.code_auth.aws import SYSTEM_CREDENTIALS_ENV
from fluxnex.n8n.code_auth.azure import CUSTOM_ENDPOINTS_ENV
from n8n_engine.code_auth_cases import CODE_AUTHENTICATED

ROOT = Path(__file__).resolve().parents[1]
N8N = (ROOT / "docs" / "n8n.md").read_text(encoding="utf-8")
SECTION = N8N[N8N.index("## Code-authenticated types"):N8N.index("## Node-code types")]
FAMILIES = {"api_keys": api_keys, "by_request": by_request, "templated": templated, "jwt_auth": jwt_auth,
            "azure": azure, "aws": aws, "token_exchange": token_exchange}


def test_the_family_table_lists_each_modules_types() -> None:
    rows = {m.group(1): set(re.findall(r"`(\w+)`", m.group(2)))
            for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", SECTION, re.MULTILINE)}
    assert set(rows) == set(FAMILIES)
    for name, module in FAMILIES.items():
        assert rows[name] == set(module.IMPLEMENTATIONS), name
    assert set().union(*rows.values()) == implemented() == set(CODE_AUTHENTICATED)
    assert f"The other {len(implemented())} are restated" in SECTION
    assert "fluxnex.n8n.code_auth.implemented()" in SECTION


def test_the_settings_named_are_the_ones_read() -> None:
    assert f"`{CUSTOM_ENDPOINTS_ENV}=true`" in SECTION and f"`{SYSTEM_CREDENTIALS_ENV}=true`" in SECTION
    assert f"over the {len(CODE_AUTHENTICATED)} types" in N8N
