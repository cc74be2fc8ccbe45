"""Every bad input is one line and writes nothing, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.api.n8n_import import import_export
from fluxnex.contract.errors import ConnectionNotFound, ValidationError
from fluxnex.storage.crypto import generate_key_line
from store_fixtures import *  # noqa: F403 - fixtures

TENANT = uuid.uuid4()
KEYS = generate_key_line("k1")
OAUTH = {"grantType": "clientCredentials", "clientId": "c", "clientSecret": "s",
         "accessTokenUrl": "http://127.0.0.1:9/token"}


@pytest.fixture
def mgr(store_url: str) -> Iterator[CredentialManager]:
    manager = CredentialManager(store_url, KEYS)
    manager.create_connection(TENANT, "httpHeaderAuth", "existing", {"name": "X", "value": "v"})
    yield manager
    manager.close()


def _token(**fields: Any) -> dict[str, Any]:
    return {**OAUTH, "oauthTokenData": {"access_token": "at", **fields}}


BAD_DATA: list[tuple[str, str, dict[str, Any], str]] = [
    ("nul", "httpHeaderAuth", {"name": "X", "value": "a\x00b"}, "value: contains a NUL character"),
    ("surrogate", "httpHeaderAuth", {"name": "X", "value": "a\ud800b"}, "value: contains a lone surrogate"),
    ("surrogate-key", "oAuth2Api", _token(**{"x\udcff": 1}), "contains a lone surrogate"),
    ("expires-huge", "oAuth2Api", _token(expires_in=1e300), "expires_in must be a number of seconds"),
    ("expires-nan", "oAuth2Api", _token(expires_in=math.nan), "expires_in: nan is not a finite number"),
    ("expires-inf", "oAuth2Api", _token(expires_in=-math.inf), "is not a finite number"),
    ("expires-at-nan", "oAuth2Api", _token(expires_at=math.nan), "expires_at: nan is not a finite number"),
    ("refresh-huge", "oAuth2Api", _token(refresh_token_expires_in=1e300), "refresh_token_expires_in must be"),
    ("nested-inf", "oAuth2Api", _token(extra={"deep": [1, math.inf]}), "extra.deep[1]: inf is not a finite"),
    ("domains", "httpHeaderAuth", {"name": "X", "value": "v", "allowedHttpRequestDomains": "any"}, "not one of"),
]


@pytest.mark.parametrize(("label", "type_name", "data", "message"), BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data_is_one_line_and_writes_nothing(mgr: CredentialManager, label: str, type_name: str,
                                                 data: dict[str, Any], message: str) -> None:
    before = mgr.store.list()
    with pytest.raises(ValidationError, match=re.escape(message)) as info:
        mgr.create_connection(TENANT, type_name, label, data)
    assert "\n" not in str(info.value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        mgr.update_connection(TENANT, "existing", data if type_name == "httpHeaderAuth" else {"name": "X", **data})
    assert mgr.store.list() == before


BAD_NAMES = [("nul", "a\x00b", "NUL"), ("surrogate", "a\udcffb", "lone surrogate"),
             ("escape", "a\x1b[31mred", "U+001B"), ("newline", "a\nb", "U+000A"), ("tab", "a\tb", "U+0009"),
             ("delete", "a\x7f", "U+007F"), ("line-separator", "a\u2028b", "U+2028"), ("blank", "  ", "non-empty"),
             ("long", "x" * 201, "at most 200")]


@pytest.mark.parametrize(("label", "name", "message"), BAD_NAMES, ids=[b[0] for b in BAD_NAMES])
def test_bad_names_are_refused_on_create_and_rename(mgr: CredentialManager, label: str, name: str,
                                                    message: str) -> None:
    before = mgr.store.list()
    with pytest.raises(ValidationError, match=re.escape(message)) as info:
        mgr.create_connection(TENANT, "httpHeaderAuth", name, {"name": "X", "value": "v"})
    assert "\n" not in str(info.value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        mgr.update_connection(TENANT, "existing", new_name=name)
    assert mgr.store.list() == before


@pytest.mark.parametrize("name", ["a\x00b", "a\udcffb"])
def test_looking_up_an_impossible_name_is_not_found(mgr: CredentialManager, name: str) -> None:
    for call in (mgr.get_connection, mgr.get_connection_info, mgr.delete_connection):
        with pytest.raises(ConnectionNotFound):  # on PostgreSQL a NUL used to raise psycopg.DataError
            call(TENANT, name)


def test_an_import_checks_every_entry_before_writing_any(mgr: CredentialManager) -> None:
    export = [
        {"name": "first", "type": "httpHeaderAuth", "data": {"name": "X", "value": "1"}},
        {"name": "second", "type": "httpHeaderAuth", "data": {"name": "X", "value": "2"}},
        {"name": "bad\x00name", "type": "httpHeaderAuth", "data": {"name": "X", "value": "3"}},
        {"name": "bad-data", "type": "httpHeaderAuth", "data": {"name": "X", "value": "nul\x00"}},
        {"name": "first", "type": "httpHeaderAuth", "data": {"name": "X", "value": "dup"}},
        {"name": "expr", "type": "httpHeaderAuth", "data": {"name": "X", "value": "={{ 'v' + 1 }}"}},
    ]
    report = import_export(mgr, TENANT, export)
    assert [i.name for i in report.imported] == ["first", "second", "expr"]
    assert {i.name: i.outcome for i in report.skipped} == {
        "bad\x00name": "invalid data", "bad-data": "invalid data", "first": "name taken"}
    assert all("\n" not in i.reason for i in report.skipped)
    assert sorted(c.name for c in mgr.list_connections(TENANT)) == ["existing", "expr", "first", "second"]
    assert mgr.get_connection(TENANT, "first")["value"] == "1"


def _cli(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = Path(sys.executable).with_name("fluxnex")
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, env=env, timeout=120, check=False)


def test_invalid_utf8_through_the_cli_is_one_line(store_url: str, tmp_path: Path) -> None:
    import os

    env = {**os.environ, "FLUXNEX_DATABASE_URL": store_url, "FLUXNEX_ENCRYPTION_KEYS": KEYS,
           "FLUXNEX_LOAD_PLUGINS": ""}
    tenant = str(uuid.uuid4())
    bad_file = tmp_path / "data.json"
    bad_file.write_bytes(b'{"name": "X", "value": "\xff\xfe"}')
    name_arg = os.fsdecode(b"bad\xffname")  # what a shell passes for bytes that are not UTF-8
    attempts = [
        (["connections", "add", "--tenant", tenant, "--type", "httpHeaderAuth", "--name", "ok", "--no-input",
          "--data", str(bad_file)], None, "not valid UTF-8"),
        (["connections", "add", "--tenant", tenant, "--type", "httpHeaderAuth", "--name", name_arg,
          "--no-input", "--data", "-"], json.dumps({"name": "X", "value": "v"}).encode(), "lone surrogate"),
        (["connections", "add", "--tenant", tenant, "--type", "httpHeaderAuth", "--name", "ok2",
          "--no-input", "--data", "-"], b'{"name": "X", "value": "a\\u0000b"}', "NUL"),
    ]
    for args, stdin, message in attempts:
        result = _cli(args, env, stdin)
        err = result.stderr.decode("utf-8", "replace")
        assert result.returncode == 1 and message in err and "Traceback" not in err, err
        assert err.strip().count("\n") == 0, err
    listed = _cli(["connections", "list", "--tenant", tenant, "--json"], env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


