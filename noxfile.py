"""Development sessions, generated from the folder list (one session per plugin under plugins/).

    nox                       # every default session: tests, each plugin alone, lint, typecheck
    nox -s tests -- -k store  # arguments after -- go to pytest
    nox -s docs               # docs/api.md is what the docstrings generate (python tools/api_docs.py rewrites it)
    nox -s bench              # the performance harness (not run by default)
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
PYTHON = os.environ.get("FLUXNEX_NOX_PYTHON") or None

nox.options.sessions = [
    "tests", *[f"plugin-{p.name.removeprefix('fluxnex-')}" for p in PLUGINS], "lint", "typecheck", "docs",
]
nox.options.error_on_missing_interpreters = True


def _install_workspace(session: nox.Session) -> None:
    session.install("-r", "requirements-dev.txt")
    session.install("-e", "core[postgres,server]", *[arg for p in PLUGINS for arg in ("-e", str(p.relative_to(ROOT)))])


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (SQLite always; PostgreSQL too when FLUXNEX_TEST_POSTGRES_URL is set)."""
    _install_workspace(session)
    session.run("python", "-m", "pytest", *session.posargs)


def _plugin_session(plugin: Path) -> None:
    short = plugin.name.removeprefix("fluxnex-")

    @nox.session(name=f"plugin-{short}", python=PYTHON)
    def plugin_alone(session: nox.Session) -> None:
        """Wheels of core and this plugin alone in a fresh venv: discovery shows exactly its types; its tests pass."""
        dist = Path(session.create_tmp()) / "dist"
        session.install("build")
        for project in (ROOT / "core", plugin):
            session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), str(project), silent=True)
        wheels = [str(w) for w in dist.glob("*.whl")]
        session.install(*wheels)
        session.run("python", str(ROOT / "tools" / "check_plugin_alone.py"), plugin.name)
        session.install("pytest", "pytest-timeout", "hypothesis")
        session.run(
            "python", "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(plugin),
            "-o", "addopts=--import-mode=importlib -ra", str(plugin / "tests"), *session.posargs,
        )

    plugin_alone.__name__ = f"plugin_{short}"
    globals()[plugin_alone.__name__] = plugin_alone


for _plugin in PLUGINS:
    _plugin_session(_plugin)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over every package, the tests and the benchmarks; the layer contracts of pyproject.toml (lint-imports)."""
    session.install("ruff", "import-linter", "-e", "core")
    session.run("ruff", "check", ".")
    session.run("lint-imports", "--no-cache")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on core."""
    session.install("mypy", "types-requests", "pytest", "-e", "core[postgres,server]")
    session.run("mypy", "--strict", "core/src/fluxnex")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The API reference: docs/api.md must equal what tools/api_docs.py generates; its examples must run."""
    session.install("-e", "core[postgres,server]")
    session.run("python", "tools/api_docs.py", "--check")
    session.run("python", "docs/examples/api_tasks.py", silent=True)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The performance harness: each figure is printed beside a baseline measured in the same run."""
    _install_workspace(session)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
