"""The security documentation states what the code does: defaults, limits, field names and messages."""

from __future__ import annotations

from pathlib import Path

from fluxnex.n8n.domains import LIST_FIELD, MODE_FIELD, MODES
from fluxnex.n8n.expression_marks import EXPRESSIONS_KEY
from fluxnex.n8n.expressions import MAX_SECONDS, MAX_STEPS, MAX_STRING_LENGTH, MAX_WORK
from fluxnex.storage import config

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
N8N = (ROOT / "docs" / "n8n.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_threat_model_and_its_limits_are_documented() -> None:
    security = OPERATIONS[OPERATIONS.index("## Security"):]
    for needle in ("### Threat model", "does **not** protect", "Rollback by someone who can write the database",
                   "### Defaults and why"):
        assert needle in security


def test_documented_timeouts_and_budgets_are_the_codes() -> None:
    for text in (OPERATIONS, README):
        assert config.ENV_PG_LOCK_TIMEOUT in text and config.ENV_PG_STATEMENT_TIMEOUT in text
    assert f"default {config.DEFAULT_PG_LOCK_TIMEOUT_MS} ms" in OPERATIONS
    assert f"default {config.DEFAULT_PG_STATEMENT_TIMEOUT_MS} ms" in OPERATIONS
    assert f"MAX_STEPS {MAX_STEPS} nodes, MAX_SECONDS {MAX_SECONDS} s" in OPERATIONS
    assert f"MAX_STRING_LENGTH {MAX_STRING_LENGTH} characters" in OPERATIONS
    assert f"MAX_WORK {MAX_WORK} characters" in OPERATIONS
    assert f"{MAX_SECONDS} s of wall time" in N8N


def test_documented_field_names_are_the_codes() -> None:
    assert f'"{EXPRESSIONS_KEY}"' in N8N and "fluxnex.Expression(" in N8N
    assert MODE_FIELD in N8N and LIST_FIELD in N8N
    for mode in MODES:
        assert f"| `{mode}`" in N8N


def test_documented_key_file_message_matches(tmp_path: Path) -> None:
    import pytest
    from fluxnex.contract.errors import ConfigurationError

    key_file = tmp_path / "k"
    key_file.write_text("x")
    key_file.chmod(0o644)
    with pytest.raises(ConfigurationError) as info:
        config.read_key_file(key_file)
    assert f"`chmod 600 {key_file}`" in str(info.value) and "(`chmod 600 <file>`)" in OPERATIONS
