"""docs/n8n.md's pre-authentication and OAuth1 sections state what the code does."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from fluxnex.lifecycle.oauth1 import SIGNATURE_METHODS
from fluxnex.lifecycle.tokens import update_command
from fluxnex.n8n import preauth

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "n8n.md").read_text(encoding="utf-8")
PREAUTH = DOC.split("## Pre-authentication", 1)[1].split("\n## ", 1)[0]
OAUTH1 = DOC.split("## OAuth1", 1)[1].split("\n## ", 1)[0]


def test_the_pre_authenticated_types_named_are_the_implemented_ones() -> None:
    listed = PREAUTH.split("credentials:", 1)[1].split("(`fluxnex.n8n.preauth.implemented()`", 1)[0]
    assert set(re.findall(r"`(\w+)`", listed)) == preauth.implemented()
    assert f"{len(preauth.implemented())} types".lower() in PREAUTH.lower().replace("thirteen", "13")


def test_the_stated_field_command_and_case_count_are_the_code_s() -> None:
    assert f"`{preauth.EXPIRY_FIELD}`" in PREAUTH
    from types import SimpleNamespace

    row = SimpleNamespace(tenant_id=uuid.UUID(int=0), name="NAME")
    command = update_command(row).replace(str(uuid.UUID(int=0)), "T")  # type: ignore[arg-type]
    flat = " ".join(PREAUTH.split())
    assert f"`{command}`" in flat
    differential = (ROOT / "tests" / "test_preauth_differential.py").read_text()
    cases = re.search(r"assert len\(ours\) == (\d+)", differential)
    assert cases is not None and f"over {cases.group(1)} cases" in flat


def test_the_signature_methods_named_are_the_signer_s() -> None:
    named = set(re.findall(r"`((?:HMAC|RSA)-SHA\d+|PLAINTEXT)`", OAUTH1))
    assert named == set(SIGNATURE_METHODS)


def test_the_oauth1_differential_count_is_the_test_s() -> None:
    differential = (ROOT / "tests" / "test_oauth1_differential.py").read_text()
    count = re.search(r"assert len\(cases\) == (\d+)", differential)
    assert count is not None and f"signs {count.group(1)} requests" in " ".join(OAUTH1.split())


def test_the_stated_number_of_concurrent_callers_is_the_test_s() -> None:
    source = (ROOT / "tests" / "preauth_support.py").read_text()  # its storm: THREADS in each of 3 processes
    threads = re.search(r"^THREADS = (\d+)$", source, re.M)
    flat = " ".join(PREAUTH.split())
    assert threads is not None and f"{3 * int(threads.group(1))} callers in three processes" in flat
