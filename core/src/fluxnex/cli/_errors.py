"""How the CLI reports a failure: one line on stderr (a JSON object with ``--json``) and exit code 1.

Every exception that escapes a command goes through :func:`describe`:

* a ``FluxnexError`` is its own message (``DatabaseError`` carries its ``hint``);
* a database driver error (SQLAlchemy, psycopg, sqlite3) that reached the CLI unwrapped becomes one line naming
  the database (password hidden), the driver's first line and the fix where there is one;
* anything raised from a plugin's code names the plugin's distribution and the hook; every other exception is
  reported by type. URLs in those messages lose their query, fragment and userinfo (tokens travel there).

``-v`` adds the traceback's frames (file, line, function; never local values) above the line.
"""

from __future__ import annotations

import re
import traceback
from types import TracebackType
from typing import IO, Any

import click

__all__ = ["CommandFailed", "describe", "redact_urls"]

_URL = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?:[^/\s@]*@)?(?P<rest>[^\s?#'\"]*)(?P<tail>[?#][^\s'\"]*)?")
_DRIVER_MODULES = ("sqlalchemy", "psycopg", "psycopg_pool", "sqlite3", "_sqlite3")
_MAX = 300


def redact_urls(text: str) -> str:
    """``text`` with every URL's userinfo dropped and its query/fragment replaced by ``?[redacted]``."""

    def one(match: re.Match[str]) -> str:
        return match["scheme"] + match["rest"] + ("?[redacted]" if match["tail"] else "")

    return _URL.sub(one, text)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.split(".")[0] in _DRIVER_MODULES


def _database_line(exc: BaseException) -> tuple[str, str | None]:
    from fluxnex.storage.config import database_url, redact_url

    original = getattr(exc, "orig", None) or exc
    detail = _first_line(str(original)) or type(original).__name__
    detail = re.sub(r"\s*\(Background on this error at:.*$", "", detail)
    url = database_url()
    password = _password(url)
    if password:
        detail = detail.replace(password, "***")
    lowered = detail.lower()
    hint: str | None = None
    if "refused" in lowered or "could not connect" in lowered or "timeout" in lowered:
        hint = "is the server running, and is FLUXNEX_DATABASE_URL right?"
    elif "does not exist" in lowered or "authentication failed" in lowered or "no password" in lowered:
        hint = "check the database, user and password in FLUXNEX_DATABASE_URL"
    elif "unable to open database file" in lowered or "readonly" in lowered or "read-only" in lowered:
        hint = "check that the database file and its directory are writable"
    elif "too many clients" in lowered:
        hint = "the server's max_connections is exhausted; see docs/operations.md"
    return f"database {redact_url(url)}: {detail}", hint


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
        return None if password is None else str(password)
    except Exception:
        return None


def _plugin_modules() -> dict[str, str]:
    """Module name -> the plugin's label: installed entry points (by distribution) and registered plugins."""
    import inspect
    from importlib import metadata

    modules: dict[str, str] = {}
    for ep in metadata.entry_points(group="fluxnex"):
        modules[ep.value.split(":")[0].split(".")[0]] = ep.dist.name if ep.dist is not None else ep.name
    try:
        from fluxnex.contract.plugins import get_registry

        registry = get_registry()
        dists = {p.name: p.distribution for p in registry.plugins}
        for name, plugin in registry.plugin_manager.list_name_plugin():
            module = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
            modules.setdefault(module, dists.get(name, name))
    except Exception:  # noqa: S110 - naming the plugin is a courtesy: never fail while reporting a failure
        pass
    return modules


def _plugin_of(tb: TracebackType | None) -> tuple[str, str] | None:
    """(plugin, function) of the innermost traceback frame that runs a plugin's code, if any."""
    modules = _plugin_modules()
    found: tuple[str, str] | None = None
    for frame, _line in traceback.walk_tb(tb):
        module = str(frame.f_globals.get("__name__", ""))
        label = modules.get(module) or modules.get(module.split(".")[0])
        if label is not None:
            found = (label, frame.f_code.co_name)
    return found


def describe(exc: BaseException) -> tuple[str, str, str | None]:
    """``(kind, one-line message, hint)`` for an exception that escaped a command."""
    from fluxnex.contract.errors import FluxnexError

    if isinstance(exc, FluxnexError):
        return type(exc).__name__, " ".join(str(exc).split()), getattr(exc, "hint", None)
    if _is_driver_error(exc):
        line, hint = _database_line(exc)
        return "DatabaseError", line + (f" ({hint})" if hint else ""), hint
    detail = redact_urls(" ".join(str(exc).split()))[:_MAX]
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    plugin = _plugin_of(exc.__traceback__)
    if plugin is not None:
        return "PluginError", f"plugin {plugin[0]} failed in {plugin[1]}(): {text}", None
    return type(exc).__name__, f"unexpected {text} (run with -v for the traceback)", None


class CommandFailed(click.ClickException):
    """A command's failure as one line (plain, or a JSON object when the command was given ``--json``)."""

    exit_code = 1

    def __init__(self, exc: BaseException, *, as_json: bool, verbose: int) -> None:
        self.kind, line, self.hint = describe(exc)
        super().__init__(line)
        self.as_json = as_json
        self.frames = traceback.format_tb(exc.__traceback__) if verbose else []

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the frames (with -v) and the one line, or the JSON object."""
        import json

        for frame in self.frames:
            click.echo(frame.rstrip(), err=True)
        if self.as_json:
            payload = {"error": self.message, "type": self.kind, "hint": self.hint}
            click.echo(json.dumps(payload), err=True)
        else:
            click.echo(f"Error: {self.message}", err=True)
