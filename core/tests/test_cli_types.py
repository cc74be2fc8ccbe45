"""``fluxnex types list|show`` and ``fluxnex plugins``, through click's runner and the installed script."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fluxnex import UnknownCredentialType
from fluxnex.cli import cli
from fluxnex.contract.plugins import reset_registry

PLUGINS = {
    "revenovaApi": "fluxnex-revenova",
    "quickBooksOAuth2Api": "fluxnex-quickbooks",
    "hubspotOAuth2Api": "fluxnex-hubspot",
}
BUILT_INS = {
    "oAuth2Api", "oAuth1Api", "httpHeaderAuth", "httpBasicAuth", "httpQueryAuth", "httpBearerAuth",
    "httpCustomAuth", "httpDigestAuth",
}
OAUTH2_INHERITED = [
    "useDynamicClientRegistration", "grantType", "serverUrl", "authUrl", "accessTokenUrl", "clientId",
    "clientCredentialType", "clientSecret", "privateKey", "certificate", "scope", "authQueryParameters",
    "authentication", "sendAdditionalBodyProperties", "additionalBodyProperties",
]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("FLUXNEX_")]:
        monkeypatch.delenv(key)
    reset_registry()
    yield
    reset_registry()


def _invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("fluxnex")
    assert script is not None, "the fluxnex console script is not installed (pip install -e core)"
    return subprocess.run([script, *args], capture_output=True, text=True, env=_clean_env(), timeout=120)


# -- types list -------------------------------------------------------------------------------------


def test_types_list_json_names_each_type_with_its_distribution_and_version() -> None:
    rows = json.loads(_invoke("types", "list", "--json").stdout)
    by_name = {row["name"]: row for row in rows}
    assert [row["name"] for row in rows] == sorted(by_name)
    assert set(BUILT_INS) | set(PLUGINS) <= set(by_name)
    for name, distribution in PLUGINS.items():
        row = by_name[name]
        assert row["distribution"] == distribution
        assert row["version"] == metadata.version(distribution)
    for name in BUILT_INS:
        assert by_name[name]["distribution"] == "fluxnex-core"
        assert by_name[name]["version"] == metadata.version("fluxnex-core")
    assert by_name["revenovaApi"]["display_name"] == "Revenova TMS API"
    assert by_name["hubspotOAuth2Api"]["extends"] == ["oAuth2Api"]
    assert by_name["oAuth2Api"]["display_name"] == "OAuth2 API"


def test_types_list_table() -> None:
    lines = _invoke("types", "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DISPLAY", "NAME", "PROVIDED", "BY"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["revenovaApi"].split()[1:] == ["Revenova", "TMS", "API", "fluxnex-revenova",
                                               metadata.version("fluxnex-revenova")]
    assert rows["oAuth2Api"].endswith(f"fluxnex-core {metadata.version('fluxnex-core')}")
    column = lines[0].index("PROVIDED BY")
    assert all(line[column:].startswith("fluxnex-") for line in lines[1:])  # aligned columns


# -- types show -------------------------------------------------------------------------------------


def test_types_show_json_has_the_properties_after_extends_with_secrets_marked() -> None:
    shown: dict[str, Any] = json.loads(_invoke("types", "show", "hubspotOAuth2Api", "--json").stdout)
    assert shown["name"] == "hubspotOAuth2Api" and shown["distribution"] == "fluxnex-hubspot"
    assert shown["extends"] == ["oAuth2Api"] and shown["ancestors"] == ["oAuth2Api"]
    props = {p["name"]: p for p in shown["properties"]}
    names = [p["name"] for p in shown["properties"]]
    assert names[: len(OAUTH2_INHERITED)] == OAUTH2_INHERITED  # oAuth2Api's, in n8n's order, then HubSpot's own
    assert "ignoreSSLIssues" not in names  # doNotInherit
    assert {name for name, p in props.items() if p["secret"]} == {"clientSecret", "privateKey"}
    assert props["accessTokenUrl"]["default"] == "https://api.hubapi.com/oauth/v1/token"
    assert props["authentication"] == {
        "name": "authentication", "display_name": "Authentication", "type": "hidden", "required": False,
        "secret": False, "default": "body", "display_options": None,
    }
    assert props["clientId"]["required"] is True
    assert props["clientId"]["display_options"] == {"show": {"useDynamicClientRegistration": [False]}}


def test_types_show_json_of_a_class_style_type_with_a_password() -> None:
    shown = json.loads(_invoke("types", "show", "revenovaApi", "--json").stdout)
    assert shown["extends"] == [] and shown["ancestors"] == []
    assert [(p["name"], p["type"], p["secret"], p["default"]) for p in shown["properties"]] == [
        ("instanceUrl", "string", False, "https://login.salesforce.com"),
        ("accessToken", "password", True, ""),
    ]


def test_types_show_table() -> None:
    out = _invoke("types", "show", "quickBooksOAuth2Api").stdout
    lines = out.splitlines()
    assert lines[0] == f"QuickBooks Online OAuth2 API (quickBooksOAuth2Api) from fluxnex-quickbooks " \
                       f"{metadata.version('fluxnex-quickbooks')}"
    assert lines[1] == "extends: oAuth2Api"
    assert lines[2].split() == ["PROPERTY", "TYPE", "REQUIRED", "SECRET", "DEFAULT"]
    starts = [lines[2].index(h) for h in ("PROPERTY", "TYPE", "REQUIRED", "SECRET", "DEFAULT")] + [None]
    rows = {(cells := [line[a:b].strip() for a, b in itertools.pairwise(starts)])[0]: cells[1:]
            for line in lines[3:]}
    # REQUIRED reflects displayOptions (and the public-client exemption), not a bare "yes"
    assert rows["clientSecret"] == ["string", "when useDynamicClientRegistration is false, unless grantType is pkce",
                                    "secret", ""]
    assert rows["serverUrl"][:2] == ["string", "when useDynamicClientRegistration is true"]
    assert rows["environment"] == ["options", "", "", "production"]
    assert "ignoreSSLIssues" not in rows and "jweEnabled" not in rows  # doNotInherit
    plain = _invoke("types", "show", "httpCustomAuth").stdout.splitlines()
    assert [line.split()[:3] for line in plain if line.startswith("json ")] == [["json", "json", "yes"]]


def test_an_unknown_type_is_one_line_and_exit_1_through_the_click_group() -> None:
    result = CliRunner().invoke(cli, ["types", "show", "nopeApi"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {UnknownCredentialType('nopeApi')}\n"


def test_an_unknown_type_suggests_the_close_names() -> None:
    result = CliRunner().invoke(cli, ["types", "show", "quickbooksOAuth2Api"], catch_exceptions=False)
    assert result.exit_code == 1 and result.stderr == (
        "Error: unknown credential type 'quickbooksOAuth2Api': did you mean 'quickBooksOAuth2Api'? "
        "(see `fluxnex types list`)\n"
    )
    assert UnknownCredentialType("zzzz", ["oAuth2Api"]).suggestions == []


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_help_texts_read_as_plain_text() -> None:
    checked = 0
    for path, _command in _commands(cli):
        text = _invoke(*path, "--help").stdout
        assert "``" not in text and ":func:" not in text and ":class:" not in text, (path, text)
        checked += 1
    assert checked > 20


# -- plugins ----------------------------------------------------------------------------------------


def test_plugins_json() -> None:
    report = json.loads(_invoke("plugins", "--json").stdout)
    assert report["failed"] == [] and report["conflicts"] == {}
    loaded = {p["distribution"]: p for p in report["loaded"]}
    assert set(BUILT_INS) == set(loaded["fluxnex-core"]["types"]) and loaded["fluxnex-core"]["name"] == "builtin"
    for type_name, distribution in PLUGINS.items():
        assert type_name in loaded[distribution]["types"]
        assert loaded[distribution]["version"] == metadata.version(distribution)
    every = [t for p in report["loaded"] for t in p["types"]]
    assert len(every) == len(set(every))  # each type listed under exactly one plugin


def test_plugins_table() -> None:
    lines = _invoke("plugins").stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "TYPES"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert rows["fluxnex-core"][0] == "builtin" and rows["fluxnex-core"][3] == str(len(BUILT_INS))
    hubspot_types = json.loads(_invoke("plugins", "--json").stdout)["loaded"]
    expected = next(len(p["types"]) for p in hubspot_types if p["distribution"] == "fluxnex-hubspot")
    assert rows["fluxnex-hubspot"][3] == str(expected) and expected >= 1


# -- the installed script ---------------------------------------------------------------------------


def test_the_script_lists_types_as_json() -> None:
    result = _script("types", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row["distribution"] for row in json.loads(result.stdout)}
    assert {name: rows[name] for name in PLUGINS} == PLUGINS
    assert result.stderr == ""


def test_the_script_reports_an_unknown_type_in_one_line_without_traceback() -> None:
    result = _script("types", "show", "nopeApi")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert result.stderr.startswith("Error: ") and "'nopeApi'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_script_help_lists_the_commands() -> None:
    result = _script("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: fluxnex ")
    for command in ("types", "plugins"):
        assert f"  {command} " in result.stdout
    sub = _script("types", "--help")
    assert sub.returncode == 0 and "list" in sub.stdout and "show" in sub.stdout


def test_an_unknown_command_is_a_usage_error() -> None:
    result = _script("nosuchcommand")
    assert result.returncode == 2
    assert "No such command 'nosuchcommand'" in result.stderr and "Traceback" not in result.stderr


def test_python_m_fluxnex_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fluxnex", "--version"], capture_output=True, text=True, env=_clean_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fluxnex, version {metadata.version('fluxnex-core')}"


@pytest.mark.parametrize("args", [["types", "list"], ["--help"]])
def test_types_list_and_help_import_no_heavy_library(args: list[str]) -> None:
    code = (
        "import contextlib, io, sys\n"
        "from fluxnex.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({args!r})\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'requests', 'cryptography', 'alembic', 'oauthlib')"
        " if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "HEAVY="
