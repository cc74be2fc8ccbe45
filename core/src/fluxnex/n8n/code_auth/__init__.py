"""n8n's code-authenticated credential types, restated in Python (n8n-nodes-base 2.41.2).

n8n authenticates these types with a JavaScript ``authenticate`` method rather than a declarative block, so
its exported catalog shows ``authenticate: {}``. Each function here takes the credentials (the type's effective
data), n8n-shaped request options (a dict: ``url``/``baseURL`` or ``uri``, ``method``, ``headers``, ``qs``,
``body``, ``form``, ``auth``) and a :class:`Context` (clock, token fetcher), and returns the authenticated
options as n8n's code would. :mod:`fluxnex.n8n.code_auth.requests_adapter` applies them to a
``requests.PreparedRequest``; core's built-in plugin calls that from the ``authenticate`` hook.

The pre-authenticated (``expirable``) types are not here: n8n fetches their session token in
``preAuthentication`` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth import api_keys, aws, azure, by_request, jwt_auth, nodes, templated, token_exchange
from fluxnex.n8n.code_auth._context import AuthFunction, Context, TokenFetcher, TokenRequest
from fluxnex.n8n.code_auth._js import CodeAuthError, Options

__all__ = [
    "AuthFunction",
    "CodeAuthError",
    "Context",
    "Options",
    "TokenFetcher",
    "TokenRequest",
    "authenticate_options",
    "get_implementation",
    "implemented",
]

_REGISTRY: dict[str, AuthFunction] = {}
for _family in (api_keys, aws, azure, by_request, jwt_auth, templated, token_exchange):
    _REGISTRY.update(_family.IMPLEMENTATIONS)


def implemented() -> set[str]:
    """The names of the n8n types whose code authentication FluxNex implements."""
    return set(_REGISTRY)


def get_implementation(type_name: str) -> AuthFunction | None:
    """The function for ``type_name``, or None when FluxNex implements neither its n8n ``authenticate`` code nor
    (for a type that declares no authentication) its node's (:mod:`fluxnex.n8n.code_auth.nodes`)."""
    function = _REGISTRY.get(type_name)
    if function is None:
        entry = nodes.get(type_name)
        function = None if entry is None else entry.authenticate
    return function


def authenticate_options(type_name: str, credentials: Mapping[str, Any], options: Options, ctx: Context) -> Options:
    """Authenticate n8n-shaped request ``options`` for a type :func:`get_implementation` knows (KeyError otherwise)."""
    function = get_implementation(type_name)
    if function is None:
        raise KeyError(type_name)
    return function(credentials, options, ctx)
