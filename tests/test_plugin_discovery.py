"""Discovery through real installed distributions: isolation of broken plugins, conflicts, the allowlist."""

from __future__ import annotations

from pathlib import Path

from support import PluginVenv, write_plugin

GOOD = """
from fluxnex import CredentialType, Property, hookimpl

class AcmeApi(CredentialType):
    name = "acmeApi"
    display_name = "Acme API"
    properties = [Property(display_name="Token", name="token", type="password")]

@hookimpl
def register_credential_types(register):
    register(AcmeApi)
"""

SAME_NAME = """
from fluxnex import hookimpl

@hookimpl
def register_credential_types(register):
    register({"name": "acmeApi", "displayName": "Other Acme", "properties": []})
"""


def _types(venv: PluginVenv, env: dict[str, str] | None = None) -> dict[str, str]:
    import json

    rows = json.loads(venv.run("types", "list", "--json", env=env, check=True).stdout)
    return {row["name"]: row["distribution"] for row in rows}


def test_an_installed_plugin_is_discovered(tmp_path: Path, plugin_venv: PluginVenv) -> None:
    plugin_venv.install(write_plugin(tmp_path, "acme-fluxnex", "acme_fluxnex", GOOD))
    assert _types(plugin_venv)["acmeApi"] == "acme-fluxnex"
    loaded = {p["distribution"]: p for p in plugin_venv.plugins()["loaded"]}
    assert loaded["acme-fluxnex"]["version"] == "1.2.3"
    assert loaded["acme-fluxnex"]["types"] == ["acmeApi"]


def test_broken_plugins_are_reported_and_the_others_load(tmp_path: Path, plugin_venv: PluginVenv) -> None:
    plugin_venv.install(write_plugin(tmp_path, "acme-fluxnex", "acme_fluxnex", GOOD))
    plugin_venv.install(write_plugin(tmp_path, "broken-import", "broken_import", "import no_such_module_xyz\n"))
    plugin_venv.install(
        write_plugin(
            tmp_path,
            "broken-hook",
            "broken_hook",
            "from fluxnex import hookimpl\n\n@hookimpl\ndef register_credential_types(register):\n"
            "    register({'name': 'halfApi', 'displayName': 'Half', 'properties': []})\n"
            "    raise RuntimeError('boom in hook')\n",
        )
    )
    plugin_venv.install(
        write_plugin(
            tmp_path,
            "bad-definition",
            "bad_definition",
            "from fluxnex import hookimpl\n\n@hookimpl\ndef register_credential_types(register):\n"
            "    register({'name': 'badApi', 'displayName': 'Bad', 'properties': [\n"
            "        {'displayName': 'A', 'name': 'a', 'type': 'string', 'default': ''},\n"
            "        {'displayName': 'A again', 'name': 'a', 'type': 'string', 'default': ''}]})\n",
        )
    )
    report = plugin_venv.plugins()
    failed = {f["distribution"]: f["error"] for f in report["failed"]}
    assert "ModuleNotFoundError" in failed["broken-import"] and "no_such_module_xyz" in failed["broken-import"]
    assert "boom in hook" in failed["broken-hook"]
    assert "badApi" in failed["bad-definition"] and "'a'" in failed["bad-definition"]
    assert "bad-definition" in failed["bad-definition"] and "duplicate property name" in failed["bad-definition"]
    types = _types(plugin_venv)
    assert types["acmeApi"] == "acme-fluxnex"
    assert "halfApi" not in types and "badApi" not in types  # a failed plugin contributes nothing
    human = plugin_venv.run("plugins").stdout
    assert "FAILED broken_import (broken-import)" in human


def test_two_distributions_with_one_type_name_is_an_error_naming_both(
    tmp_path: Path, plugin_venv: PluginVenv
) -> None:
    plugin_venv.install(write_plugin(tmp_path, "acme-fluxnex", "acme_fluxnex", GOOD))
    plugin_venv.install(write_plugin(tmp_path, "acme-clone", "acme_clone", SAME_NAME))
    assert "acmeApi" not in _types(plugin_venv)
    result = plugin_venv.run("types", "show", "acmeApi")
    assert result.returncode == 1
    assert "acme-fluxnex 1.2.3" in result.stderr and "acme-clone 1.2.3" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert plugin_venv.plugins()["conflicts"] == {"acmeApi": ["acme-clone 1.2.3", "acme-fluxnex 1.2.3"]}
    # choosing one with the allowlist resolves it
    assert _types(plugin_venv, {"FLUXNEX_LOAD_PLUGINS": "acme_fluxnex"})["acmeApi"] == "acme-fluxnex"


def test_an_identical_type_from_two_distributions_is_reported_with_both_names(
    tmp_path: Path, plugin_venv: PluginVenv
) -> None:
    plugin_venv.install(write_plugin(tmp_path, "acme-fluxnex", "acme_fluxnex", GOOD))
    plugin_venv.install(write_plugin(tmp_path, "acme-copy", "acme_copy", GOOD))
    import json

    rows = {r["name"]: r for r in json.loads(plugin_venv.run("types", "list", "--json", check=True).stdout)}
    assert rows["acmeApi"]["provided_by"] == ["acme-copy 1.2.3", "acme-fluxnex 1.2.3"]  # identical: it works
    report = plugin_venv.plugins()
    assert report["conflicts"] == {} and report["shared"] == {"acmeApi": ["acme-copy 1.2.3", "acme-fluxnex 1.2.3"]}
    loaded = {p["distribution"]: p["types"] for p in report["loaded"]}
    assert loaded["acme-copy"] == ["acmeApi"] and loaded["acme-fluxnex"] == ["acmeApi"]  # neither shows 0 types
    shown = plugin_venv.run("types", "show", "acmeApi", check=True).stdout.splitlines()[0]
    assert shown == "Acme API (acmeApi) from acme-copy 1.2.3 and acme-fluxnex 1.2.3 (identical definitions; " \
                    "acme-copy 1.2.3's is used)"
    table = plugin_venv.run("plugins", check=True).stdout
    assert "SHARED acmeApi: identical definitions from acme-copy 1.2.3 and acme-fluxnex 1.2.3" in table


def test_allowlist_limits_loading(tmp_path: Path, plugin_venv: PluginVenv) -> None:
    plugin_venv.install(write_plugin(tmp_path, "acme-fluxnex", "acme_fluxnex", GOOD))
    plugin_venv.install(write_plugin(tmp_path, "broken-import", "broken_import", "import no_such_module_xyz\n"))
    only_builtins = _types(plugin_venv, {"FLUXNEX_LOAD_PLUGINS": ""})
    assert set(only_builtins.values()) == {"fluxnex-core"}
    by_distribution = _types(plugin_venv, {"FLUXNEX_LOAD_PLUGINS": "acme-fluxnex"})
    assert set(by_distribution.values()) == {"fluxnex-core", "acme-fluxnex"}
    report = plugin_venv.plugins({"FLUXNEX_LOAD_PLUGINS": "acme_fluxnex"})
    assert report["failed"] == []  # the broken plugin was never imported


def test_trace_prints_hook_calls(tmp_path: Path, plugin_venv: PluginVenv) -> None:
    plugin_venv.install(write_plugin(tmp_path, "acme-fluxnex", "acme_fluxnex", GOOD))
    result = plugin_venv.run("types", "list", env={"FLUXNEX_TRACE_PLUGINS": "1"})
    assert "acme_fluxnex.register_credential_types" in result.stderr
    assert "acmeApi" in result.stdout


def test_importing_fluxnex_discovers_nothing_and_imports_nothing_heavy(plugin_venv: PluginVenv) -> None:
    import subprocess

    code = (
        "import sys, fluxnex, fluxnex.plugins as p\n"
        "assert p._registry is None\n"
        "from fluxnex.cli import main\n"
        "heavy = [m for m in ('sqlalchemy', 'requests', 'cryptography', 'alembic') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([str(plugin_venv.python), "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
