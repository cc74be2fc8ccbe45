"""``fluxnex plugin new NAME``: scaffold a plugin distribution (pyproject, README, one type, a kit test)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from fluxnex.contract.errors import FluxnexError

__all__ = ["plugin_group", "scaffold"]

_PYPROJECT = """[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title} credential types for FluxNex."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["fluxnex-core>=0.1,<0.2"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.fluxnex]
{slug} = "{pkg}"

[tool.hatch.build.targets.wheel]
packages = ["src/{pkg}"]
"""

_README = """# {dist}

{title} credential types for FluxNex.

```
pip install {dist}
fluxnex types show {type_name}
fluxnex connections add --tenant <uuid> --type {type_name} --name "{title}"
```

Run its tests with `pip install -e .[test] && pytest`.
"""

_MODULE = '''"""{title} credential types for FluxNex."""

from __future__ import annotations

from typing import Any

from fluxnex import CredentialType, Property, hookimpl

__all__ = ["{cls}"]


class {cls}(CredentialType):
    """An API key sent in the X-API-Key header."""

    name = "{type_name}"
    display_name = "{title} API"
    properties = [
        Property(display_name="API Key", name="apiKey", type="password", required=True),
        Property(display_name="Base URL", name="baseUrl", type="string", default="https://api.example.com"),
    ]
    authenticate = {{"type": "generic", "properties": {{"headers": {{"X-API-Key": "={{{{$credentials.apiKey}}}}"}}}}}}
    test = {{"request": {{"baseURL": "={{{{$credentials.baseUrl}}}}", "url": "/me"}}}}


@hookimpl
def register_credential_types(register: Any) -> None:
    """Register this plugin's credential types."""
    register({cls})
'''

_TEST = '''"""Tests of {pkg} with the FluxNex kit (fixtures come from FluxNex's pytest plugin)."""

from __future__ import annotations

import uuid

from fluxnex.testing.api_server import ApiRequest, ApiServer
from fluxnex.testing.contract import check_credential_type
from {pkg} import {cls}

TENANT = uuid.uuid4()


def test_contract() -> None:
    check_credential_type({cls})


def test_requests_carry_the_api_key(fluxnex_manager) -> None:
    def answer(request: ApiRequest) -> tuple[int, object, dict[str, str]]:
        ok = request.headers.get("x-api-key") == "k-123"
        return (200, {{"ok": True}}, {{}}) if ok else (401, {{"error": "bad key"}}, {{}})

    with ApiServer(answer) as api:
        fluxnex_manager.create_connection(TENANT, "{type_name}", "main", {{"apiKey": "k-123", "baseUrl": api.url}})
        response = fluxnex_manager.session(TENANT, "main").get(api.url + "/me", timeout=10)
    assert response.status_code == 200
'''


def scaffold(name: str, directory: Path) -> Path:
    """Write a plugin distribution for ``name`` under ``directory`` and return its folder."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        raise FluxnexError(f"plugin name {name!r} must start with a letter")
    words = [w for w in slug.split("_") if w]
    dist = "fluxnex-" + "-".join(words)
    pkg = "fluxnex_" + slug
    cls = "".join(w.capitalize() for w in words) + "Api"
    type_name = words[0] + "".join(w.capitalize() for w in words[1:]) + "Api"
    title = " ".join(w.capitalize() for w in words)
    root = directory / dist
    if root.exists():
        raise FluxnexError(f"{root} already exists")
    values = {"dist": dist, "pkg": pkg, "cls": cls, "type_name": type_name, "title": title, "slug": slug}
    files = {
        "pyproject.toml": _PYPROJECT, "README.md": _README, f"src/{pkg}/__init__.py": _MODULE,
        f"src/{pkg}/py.typed": "", f"tests/test_{slug}.py": _TEST,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root


@click.group("plugin")
def plugin_group() -> None:
    """Scaffold a new plugin distribution."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the distribution's folder.")
def new_plugin(name: str, directory: Path) -> None:
    """Create fluxnex-NAME/ with a pyproject entry point, one credential type and a test using the kit."""
    root = scaffold(name, directory)
    click.echo(f"Created {root}")
    click.echo(f"Next: pip install -e {root} && pytest {root / 'tests'}")
