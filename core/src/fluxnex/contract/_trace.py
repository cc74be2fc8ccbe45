"""``FLUXNEX_TRACE_PLUGINS=1``: one stderr line per hook call, with every secret masked.

Each line names the hook, the plugins that implement it, how long the call took and its outcome
(what it returned, or the exception type), followed by the arguments. Connection data is masked the way the
CLI masks it (:meth:`fluxnex.contract.schema.CredentialType.is_secret`: secret properties, ``oauthTokenData`` and
every field the type does not declare), requests show only their method and URL without the query string,
and a returned data dict is masked the same way. Exception messages are not printed: they may quote a value.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "install", "masked_data", "render_value"]

MASK = "********"
_local = threading.local()


def masked_data(ct: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with every secret value masked; every value when the type is unknown (as the CLI does)."""
    is_secret = getattr(ct, "is_secret", None)
    out: dict[str, Any] = {}
    for key, value in data.items():
        secret = True if is_secret is None else bool(is_secret(key))
        out[str(key)] = (MASK if value not in ("", None) else value) if secret else value
    return out


def _url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))  # no userinfo, no query


def render_value(name: str, value: Any, ct: Any) -> str:
    """One argument or result as trace text, with secrets masked."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if name == "credential_type" or hasattr(value, "is_secret"):
        return str(getattr(value, "name", type(value).__name__))
    if isinstance(value, Mapping):
        return repr(masked_data(ct, value))
    url = getattr(value, "url", None)
    method = getattr(value, "method", None)
    if isinstance(url, str):
        return f"<{type(value).__name__} {method or ''} {_url(url)}>".replace("  ", " ")
    if callable(value):
        return f"<{getattr(value, '__name__', type(value).__name__)}>"
    return f"<{type(value).__name__}>"


def _before(hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(time.perf_counter())


def _after(outcome: Any, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    stack = getattr(_local, "stack", None) or [time.perf_counter()]
    elapsed_ms = (time.perf_counter() - stack.pop()) * 1000
    ct = kwargs.get("credential_type")
    plugins = ", ".join(str(getattr(impl, "plugin_name", "?")) for impl in reversed(hook_impls))
    exception = getattr(outcome, "exception", None)
    if exception is not None:
        result = f"raised {type(exception).__name__}"
    else:
        result = "returned " + render_value("result", outcome.get_result(), ct)
    args = " ".join(f"{key}={render_value(key, value, ct)}" for key, value in kwargs.items())
    sys.stderr.write(f"fluxnex plugins: {hook_name} [{plugins}] {elapsed_ms:.1f} ms {result}; {args}\n")


def install(pm: Any) -> None:
    """Trace every hook call of the plugin manager ``pm``."""
    pm.add_hookcall_monitoring(_before, _after)
