"""Calling the ``refresh_token`` hook, and checking what the answering plugin returned before it is stored.

The hook is ``firstresult``: the implementations are called as pluggy calls them (last registered first,
``tryfirst``/``trylast`` honoured) until one returns something other than None, so the plugin that answered is
known and named in any error (and in ``FLUXNEX_TRACE_PLUGINS`` output; with hook wrappers registered, pluggy
runs the call itself and the answer is attributed to "a refresh_token plugin"). Its result must be a mapping,
JSON-serialisable, within the size limit of user data (``validation.MAX_DATA_BYTES``), and for OAuth2 types carry
``oauthTokenData.access_token``; anything else is a ``PluginResultError`` (a ``RefreshError``) and nothing is
stored. No answer at all means no plugin refreshes the type: ``NotRefreshable``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fluxnex.contract.errors import NotRefreshable, RefreshError
from fluxnex.contract.plugins import _trace
from fluxnex.n8n.validation import MAX_DATA_BYTES

if TYPE_CHECKING:
    import requests

    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.contract.schema import CredentialType

__all__ = ["PluginResultError", "call_refresh_hook", "check_result"]

OAUTH2_BASE = "oAuth2Api"


class PluginResultError(RefreshError):
    """A ``refresh_token`` implementation returned something that cannot be stored; the row is left as it was."""

    def __init__(self, message: str, plugin: str) -> None:
        super().__init__(message, transient=True)
        self.plugin = plugin


def call_refresh_hook(
    registry: TypeRegistry, ct: CredentialType, data: dict[str, Any], http: requests.Session
) -> tuple[Any, str]:
    """Run the ``refresh_token`` hook; (the first non-None result, the name of the plugin that returned it)."""
    hook = registry.hook.refresh_token
    kwargs = {"credential_type": ct, "data": data, "http": http}
    impls = hook.get_hookimpls()
    if any(impl.hookwrapper or impl.wrapper for impl in impls):  # wrappers: let pluggy run them
        return hook(**kwargs), "a refresh_token plugin"
    for impl in reversed(impls):
        # one implementation at a time through the manager's hook executor, so FLUXNEX_TRACE_PLUGINS sees it
        result = hook._hookexec(hook.name, [impl], kwargs, True)
        if result is not None:
            _trace(f"refresh_token({ct.name}) answered by {impl.plugin_name}")  # FLUXNEX_TRACE_PLUGINS
            return result, impl.plugin_name
    _trace(f"refresh_token({ct.name}): no plugin answered")
    raise NotRefreshable(f"no plugin refreshes credentials of type {ct.name!r}: nothing to refresh")


def check_result(registry: TypeRegistry, ct: CredentialType, result: Any, plugin: str, what: str) -> dict[str, Any]:
    """``result`` as a dict if it can be stored for ``what`` (a connection), else ``PluginResultError``."""
    where = f"plugin {plugin!r} returned from refresh_token for {what}"
    if not isinstance(result, Mapping):
        raise PluginResultError(f"{where} a {type(result).__name__}, not a mapping of credential data", plugin)
    try:
        size = len(json.dumps(result, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise PluginResultError(f"{where} data that is not JSON-serialisable ({type(exc).__name__})", plugin) from None
    if size > MAX_DATA_BYTES:
        raise PluginResultError(f"{where} {size} bytes of data, over the limit of {MAX_DATA_BYTES}", plugin)
    if _is_oauth2(registry, ct):
        token = result.get("oauthTokenData")
        access = token.get("access_token") if isinstance(token, Mapping) else None
        if not isinstance(access, str) or not access:
            raise PluginResultError(f"{where} data without oauthTokenData.access_token", plugin)
    return dict(result)


def _is_oauth2(registry: TypeRegistry, ct: CredentialType) -> bool:
    if ct.name in registry:
        return registry.is_a(ct.name, OAUTH2_BASE)
    return OAUTH2_BASE in (ct.extends or [])
