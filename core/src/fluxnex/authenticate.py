"""n8n's credential semantics at request time: effective data, generic ``authenticate`` blocks, test requests.

``resolve_authenticate`` follows n8n's ``CredentialsHelper.authenticate`` for ``type: "generic"`` blocks:
every key and value of ``headers``, ``qs``, ``body`` and ``auth`` that starts with ``=`` is resolved with
``$credentials``; a falsy result becomes ``''`` and anything else its JavaScript string; values that are not
expressions are kept as they are (a boolean stays a boolean).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .expressions import UNDEFINED, evaluate, is_truthy, to_js_string

if TYPE_CHECKING:
    import requests

    from .schema import CredentialType

__all__ = ["apply_authentication", "effective_data", "resolve_authenticate", "resolve_test_request"]

_OAUTH2_BASE = "oAuth2Api"


def _resolve_value(value: Any, credentials: Mapping[str, Any]) -> Any:
    """n8n's ``resolveValue``: non-expressions unchanged, falsy results ``''``, others their JS string."""
    if not isinstance(value, str) or not value.startswith("="):
        return value
    result = evaluate(value, credentials=credentials)
    if result is UNDEFINED or not is_truthy(result):
        return ""
    return to_js_string(result)


def effective_data(ct: CredentialType, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The data n8n would use: defaults filled, properties hidden by displayOptions dropped, ``=`` values resolved.

    Expressions are resolved with ``$self`` bound to the data (defaults filled in first).
    """
    from .validation import MANAGED_FIELDS, visible_properties

    filled = {**ct.defaults(), **raw}
    shown = {p.name for p in visible_properties(ct, filled)}
    data = {k: v for k, v in filled.items() if k in shown or k in MANAGED_FIELDS}
    return {k: evaluate(v, credentials=data, self=data) for k, v in data.items()}


def resolve_authenticate(ct: CredentialType, credentials: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{outerKey: {resolvedKey: resolvedValue}}`` of the type's generic ``authenticate`` block ({} if none)."""
    block = ct.authenticate or {}
    if block.get("type") != "generic":
        return {}
    resolved: dict[str, dict[str, Any]] = {}
    for outer, inner in (block.get("properties") or {}).items():
        if not isinstance(inner, Mapping):
            continue
        target = resolved.setdefault(outer, {})
        for key, value in inner.items():
            target[str(_resolve_value(key, credentials))] = _resolve_value(value, credentials)
    return resolved


def resolve_test_request(ct: CredentialType, credentials: Mapping[str, Any]) -> dict[str, Any] | None:
    """The type's ``test.request`` with every field resolved (results keep their JavaScript type)."""
    test = ct.test or {}
    request = test.get("request")
    if not isinstance(request, Mapping):
        return None
    return _deep_evaluate(dict(request), credentials)


def _deep_evaluate(value: Any, credentials: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_evaluate(v, credentials) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_evaluate(v, credentials) for v in value]
    result = evaluate(value, credentials=credentials)
    return None if result is UNDEFINED else result


def apply_authentication(
    ct: CredentialType,
    data: Mapping[str, Any],
    request: requests.PreparedRequest,
    *,
    hook: Any,
    is_oauth2: bool,
) -> requests.PreparedRequest:
    """Add the credentials in ``data`` to ``request``: a plugin's hook, a generic block, or an OAuth2 Bearer."""
    handled = hook.authenticate(credential_type=ct, data=dict(data), request=request)
    if handled is not None:
        return handled  # type: ignore[no-any-return]
    if is_oauth2:
        token = (data.get("oauthTokenData") or {}).get("access_token")
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        return request
    block = resolve_authenticate(ct, effective_data(ct, data))
    return merge_into_request(request, block)


def merge_into_request(request: requests.PreparedRequest, block: Mapping[str, Mapping[str, Any]]) -> Any:
    """Merge a resolved authenticate block into a prepared request (the credential's values win)."""
    import json

    import requests.auth

    for key, value in (block.get("headers") or {}).items():
        request.headers[key] = value if isinstance(value, str | bytes) else str(value)
    if block.get("qs"):
        request.prepare_url(request.url, {k: _qs_value(v) for k, v in block["qs"].items()})
    if block.get("body"):
        content_type = request.headers.get("Content-Type", "")
        if request.body and "json" not in content_type:
            from urllib.parse import parse_qsl, urlencode

            raw = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
            form = dict(parse_qsl(raw, keep_blank_values=True))
            form.update({k: _qs_value(v) for k, v in block["body"].items()})
            request.body = urlencode(form)
            request.headers["Content-Length"] = str(len(request.body))
        else:
            body = json.loads(request.body) if request.body else {}
            if isinstance(body, dict):
                body.update(block["body"])
                request.prepare_body(data=None, files=None, json=body)
    auth = block.get("auth")
    if auth:
        request = requests.auth.HTTPBasicAuth(str(auth.get("username", "")), str(auth.get("password", "")))(
            request
        )
    return request


def _qs_value(value: Any) -> str:
    return to_js_string(value) if not isinstance(value, str) else value
