"""Types that sign a JWT per request without calling the network: ``ghostAdminApi``.

Restates the n8n class's ``authenticate`` (n8n-nodes-base 2.41.2); the token's times come from the given clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.code_auth._context import AuthFunction, Context
from fluxnex.n8n.code_auth._js import CodeAuthError, Options, copy, get, spread
from fluxnex.n8n.code_auth._jws import node_hex, sign_hs256


def ghost_admin(c: Mapping[str, Any], o: Options, ctx: Context) -> Options:
    """``Authorization: Ghost <JWT>``: HS256 with the hex secret of ``id:secret``, 5 minutes, audience /v2/admin/."""
    key = get(c, "apiKey")
    if not isinstance(key, str):
        raise CodeAuthError("ghostAdminApi: the Admin API key is missing")
    parts = key.split(":")
    if len(parts) < 2:
        raise CodeAuthError("ghostAdminApi: the Admin API key is not of the form id:secret")
    key_id, secret = parts[0], parts[1]
    issued = int(ctx.now)
    token = sign_hs256({"alg": "HS256", "typ": "JWT", "kid": key_id},
                       {"iat": issued, "exp": issued + 300, "aud": "/v2/admin/"}, node_hex(secret))
    o = copy(o)
    o["headers"] = {**spread(o.get("headers")), "Authorization": f"Ghost {token}"}
    return o


IMPLEMENTATIONS: dict[str, AuthFunction] = {"ghostAdminApi": ghost_admin}
