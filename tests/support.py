"""Helpers for cross-package tests: throwaway plugin distributions installed into throwaway venvs, and the
start and stop of the local HTTP servers the provider fakes run."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self


class LocalServer:
    """A threading HTTP server on a free 127.0.0.1 port (``port``, ``url``), served on a daemon thread from
    ``with`` to its end. Subclasses call ``_serve(handler)`` in their ``__init__``."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class PluginVenv:
    """A real venv that sees this environment's packages (through a .pth) plus what is installed into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = root / "bin" / "python"
        purelib = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        parents = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
        lines = [f"import site; site.addsitedir({p!r})" for p in sorted(parents)]
        (Path(purelib) / "_fluxnex_parent_env.pth").write_text("\n".join(lines) + "\n")

    def install(self, project: Path) -> None:
        """pip-install ``project`` (no deps, no build isolation) into this venv."""
        subprocess.run(
            [str(self.python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", str(project)],
            check=True, capture_output=True, text=True,
        )

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m fluxnex ARGS`` in this venv."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}
        full_env.update(env or {})
        return subprocess.run(
            [str(self.python), "-m", "fluxnex", *args], capture_output=True, text=True, env=full_env, check=check,
            timeout=120,
        )

    def plugins(self, env: dict[str, str] | None = None) -> dict[str, Any]:
        """``fluxnex plugins --json`` as data."""
        result = self.run("plugins", "--json", env=env, check=True)
        data: dict[str, Any] = json.loads(result.stdout)
        return data


def write_plugin(root: Path, distribution: str, module: str, code: str, *, entry_point: str | None = None) -> Path:
    """Write a minimal plugin distribution (hatchling, one module) under ``root`` and return its folder."""
    project = root / distribution
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(textwrap.dedent(code))
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{distribution}"
            version = "1.2.3"

            [project.entry-points.fluxnex]
            {entry_point or module} = "{module}"

            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
            """
        )
    )
    return project
