"""The shape of one node's authentication (see :mod:`fluxnex.n8n.code_auth.nodes`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from fluxnex.n8n.code_auth._context import AuthFunction


@attrs.frozen
class NodeAuth:
    """How one node authenticates: ``authenticate`` (credentials, n8n options, context -> options) and the API
    root it sends to, built from the credentials (None when the caller always gives a full URL)."""

    authenticate: AuthFunction
    base_url: Callable[[Mapping[str, Any]], str] | None = None
    #: the n8n function this restates, ``module:function`` under n8n-nodes-base's dist (for readers and tests)
    source: str = ""
