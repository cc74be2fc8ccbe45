"""n8n's credential semantics at request time: effective data, generic ``authenticate`` blocks, test requests.

Each function mirrors one piece of n8n (n8n-workflow / n8n-core / cli 2.41):

- ``effective_data`` is ``CredentialsHelper.applyDefaultsAndOverwrites``: stored values of the hidden fields the
  type owns dropped (``PINNED_OAUTH_FIELDS``), ``NodeHelpers.getNodeParameters`` with defaults returned and
  hidden properties dropped (unknown keys dropped too), ``oauthTokenData`` and the domain allow-lists put back,
  the dynamic-client-registration fields copied from the stored data when that flag is on, JSON-leaf fields
  parsed, then every ``=`` value resolved (twice, as ``getComplexParameterValue`` does) with ``$self`` bound to
  the data, JSON-leaf fields serialised again. (n8n 2.41 retries a failed resolution field by field, skipping
  fields marked ``ignoreCredentialExpressionResolveError``; FluxNex raises the error instead.)
- ``resolve_authenticate`` is ``CredentialsHelper.authenticate`` for ``type: "generic"``: every key and value
  that starts with ``=`` is resolved with ``$credentials``; a falsy result becomes ``''`` and anything else
  its JavaScript ``toString()``; values that are not expressions are kept as they are.
- ``resolve_test_request`` is ``RoutingNode.getRequestOptionsFromParameters`` for ``test.request``: every
  field is resolved with ``WorkflowExpression.getParameterValue`` (objects recursively, results keep their
  JavaScript type, ``undefined`` fields disappear as they do in JSON).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fluxnex.n8n.expressions import UNDEFINED, evaluate, is_expression, is_truthy, shared_budget, to_js_string

if TYPE_CHECKING:
    import requests

    from fluxnex.contract.schema import CredentialType, Property

__all__ = [
    "PINNED_OAUTH_FIELDS",
    "apply_authentication",
    "effective_data",
    "js_string",
    "merge_into_request",
    "resolve_authenticate",
    "resolve_test_request",
]

#: Hidden fields the type owns: a stored value is ignored and the type's default used (n8n 2.41's
#: ``OAUTH_PINNED_FIELDS``, packages/cli/src/oauth/dcr-managed-fields.ts).
PINNED_OAUTH_FIELDS: Final = ("useDynamicClientRegistration", "authUrl", "accessTokenUrl", "grantType",
                              "authentication", "usePkce", "requestTokenUrl", "signatureMethod")
#: Fields the dynamic client registration handshake owns: copied from the stored data while the flag is on
#: (n8n's ``DCR_MANAGED_CREDENTIAL_FIELDS``).
DCR_MANAGED_FIELDS: Final = ("authUrl", "accessTokenUrl", "grantType", "authentication", "usePkce", "clientId",
                             "clientSecret")
#: Keys n8n keeps from the stored data although no property declares them.
_KEPT_UNDECLARED: Final = ("oauthTokenData", "allowedHttpRequestDomains", "allowedDomains")
_KEEP_FALSY_TYPES: Final = frozenset({"boolean", "number", "options"})


def js_string(value: Any) -> str:
    """JavaScript ``String(value)`` / ``value.toString()`` of a resolved value (dates as ``Date.toString``)."""
    if isinstance(value, dt.datetime):
        from fluxnex.n8n.expressions._jsvalues import JSDate

        stamp = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return JSDate(stamp.timestamp() * 1000).to_string()
    return to_js_string(value)


# -- effective data (applyDefaultsAndOverwrites) ------------------------------------------------------


def _value_or_default(prop: Property, values: Mapping[str, Any]) -> Any:
    """getNodeParameters' value of one simple property: booleans/numbers/options keep null, others fall back."""
    default = UNDEFINED if prop.default is _unset() else prop.default
    if prop.name not in values:
        return default
    value = values[prop.name]
    if prop.type in _KEEP_FALSY_TYPES:
        return value
    return default if value is None else value


def _unset() -> Any:
    from fluxnex.contract.schema import UNSET

    return UNSET


def node_parameters(properties: Sequence[Property], values: Mapping[str, Any]) -> dict[str, Any]:
    """n8n ``getNodeParameters(properties, values, returnDefaults=true, returnNoneDisplayed=false)``."""
    from fluxnex.n8n.display_options import is_shown

    names = [p.name for p in properties]
    duplicates = {n for n in names if names.count(n) > 1}
    display_check: dict[str, Any] = {}  # the values with defaults, every property counted as shown
    for prop in properties:
        if prop.type in ("collection", "fixedCollection"):
            continue
        if prop.name in duplicates and not is_shown(prop.display_options, display_check):
            continue
        display_check[prop.name] = _value_or_default(prop, values)
    result: dict[str, Any] = {}
    for prop in properties:
        if not is_shown(prop.display_options, display_check):
            continue
        if prop.type in ("collection", "fixedCollection"):
            value = values.get(prop.name)
            result[prop.name] = value if value is not None else (
                prop.default if prop.default is not _unset() else {})
        else:
            result[prop.name] = _value_or_default(prop, values)
    return result


def _resolve_tree(value: Any, self_data: Mapping[str, Any], credentials: Mapping[str, Any] | None) -> Any:
    """n8n ``getParameterValue``: strings starting with ``=`` are evaluated, objects and arrays recursively."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            resolved = _resolve_tree(item, self_data, credentials)
            if resolved is not UNDEFINED:
                out[key] = resolved
        return out
    if isinstance(value, list):
        return [None if (r := _resolve_tree(item, self_data, credentials)) is UNDEFINED else r for item in value]
    return evaluate(value, credentials=credentials, self=self_data)


_OAUTH_BASES: Final = ("oAuth1Api", "oAuth2Api")


def _is_oauth(ct: CredentialType) -> bool:
    """Whether ``ct`` is or extends n8n's OAuth1/OAuth2 base (looked up in the process registry)."""
    if ct.name in _OAUTH_BASES:
        return True
    parents = ct.extends or []
    if any(p in _OAUTH_BASES for p in parents):
        return True
    from fluxnex.contract.plugins import get_registry

    registry = get_registry()
    return any(p in registry and registry.is_a(p, base) for p in parents for base in _OAUTH_BASES)


def effective_data(ct: CredentialType, raw: Mapping[str, Any], *, oauth: bool | None = None) -> dict[str, Any]:
    """The data n8n would use: defaults filled, hidden-by-displayOptions and unknown keys dropped, ``=`` resolved.

    Expressions are resolved with ``$self`` bound to the data after defaults are filled in (``$credentials``
    is not bound, as in n8n). ``oauth`` says whether the type extends ``oAuth1Api``/``oAuth2Api`` (n8n then
    declares ``oauthTokenData``, default ``{}``); None asks the process registry. Raises ``ExpressionError``
    when a stored or default expression cannot be parsed.
    """
    with shared_budget():  # every expression of this resolution shares one budget
        stored = dict(raw)
        for field in PINNED_OAUTH_FIELDS:
            prop = ct.get_property(field)
            if prop is not None and prop.type == "hidden":
                stored.pop(field, None)
        properties = list(ct.properties)
        if (oauth if oauth is not None else _is_oauth(ct)) and ct.get_property("oauthTokenData") is None:
            from fluxnex.contract.schema import Property

            properties.append(Property(display_name="oauthTokenData", name="oauthTokenData", type="json", default={}))
        data = node_parameters(properties, stored)
        for key in _KEPT_UNDECLARED:
            if key not in data and raw.get(key) is not None:
                data[key] = raw[key]
        if is_truthy(data.get("useDynamicClientRegistration", UNDEFINED)):
            for key in DCR_MANAGED_FIELDS:
                if key in raw:
                    data[key] = raw[key]
                else:
                    data.pop(key, None)  # n8n assigns undefined: the key is gone once serialised
        leaves = _parse_json_leaves(properties, data)
        result: dict[str, Any] = _resolve_twice(data)
        for key, original in leaves.items():
            result[key] = original if result.get(key, UNDEFINED) is UNDEFINED else json.dumps(
                result[key], ensure_ascii=False, separators=(",", ":"))
        return result


def _resolve_twice(data: dict[str, Any]) -> dict[str, Any]:
    first = _resolve_tree(data, data, None)
    result: dict[str, Any] = _resolve_tree(first, data, None)
    return result


def _parse_json_leaves(properties: Sequence[Property], data: dict[str, Any]) -> dict[str, str]:
    """``typeOptions.resolveCredentialJsonLeaves``: JSON text parsed so expressions in its leaves resolve."""
    parsed: dict[str, str] = {}
    for prop in properties:
        value = data.get(prop.name)
        if not (prop.type_options or {}).get("resolveCredentialJsonLeaves") or not isinstance(value, str) or not value:
            continue
        try:
            data[prop.name] = json.loads(value)
        except ValueError:
            continue
        parsed[prop.name] = value
    return parsed


# -- authenticate -------------------------------------------------------------------------------------


def resolve_value(value: Any, credentials: Mapping[str, Any]) -> Any:
    """n8n ``CredentialsHelper.resolveValue``: non-expressions unchanged, falsy results ``''``, others a string."""
    if not is_expression(value):
        return value
    result = evaluate(value, credentials=credentials)
    if result is UNDEFINED or not is_truthy(result):
        return ""
    return js_string(result)


def resolve_authenticate(ct: CredentialType, credentials: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{outerKey: {resolvedKey: resolvedValue}}`` of the type's generic ``authenticate`` block ({} if none)."""
    with shared_budget():  # every expression of this resolution shares one budget
        block = ct.authenticate or {}
        if block.get("type") != "generic":
            return {}
        resolved: dict[str, dict[str, Any]] = {}
        for outer, inner in (block.get("properties") or {}).items():
            if not isinstance(inner, Mapping):
                continue
            target = resolved.setdefault(outer, {})
            for key, value in inner.items():
                target[str(resolve_value(key, credentials))] = resolve_value(value, credentials)
        return resolved


def has_code_authentication(ct: CredentialType) -> bool:
    """Whether n8n authenticates this type in code (its catalog entry has a non-generic ``authenticate``)."""
    return ct.authenticate is not None and ct.authenticate.get("type") != "generic"


# -- test requests ------------------------------------------------------------------------------------


def resolve_test_request(ct: CredentialType, credentials: Mapping[str, Any]) -> dict[str, Any] | None:
    """The type's ``test.request`` with every field resolved (results keep their JavaScript type)."""
    with shared_budget():  # every expression of this resolution shares one budget
        request = (ct.test or {}).get("request")
        if not isinstance(request, Mapping):
            return None
        out: dict[str, Any] = {}
        for key, value in request.items():
            resolved = _resolve_tree(value, {}, credentials)
            if resolved is not UNDEFINED:
                out[key] = resolved
        return out


# -- applying to a requests.PreparedRequest -----------------------------------------------------------


def apply_authentication(
    ct: CredentialType,
    data: Mapping[str, Any],
    request: requests.PreparedRequest,
    *,
    hook: Any,
    is_oauth2: bool,
) -> requests.PreparedRequest:
    """Add the credentials in ``data`` to ``request``: a plugin's hook, an OAuth2 Bearer, or a generic block."""
    with shared_budget():  # every expression of this resolution shares one budget
        handled = hook.authenticate(credential_type=ct, data=dict(data), request=request)
        if handled is not None:
            return handled  # type: ignore[no-any-return]
        if is_oauth2:
            token = (data.get("oauthTokenData") or {}).get("access_token")
            if token:
                request.headers["Authorization"] = f"Bearer {token}"
            return request
        block = resolve_authenticate(ct, effective_data(ct, data, oauth=False))
        return merge_into_request(request, block)


def merge_into_request(
    request: requests.PreparedRequest, block: Mapping[str, Mapping[str, Any]]
) -> requests.PreparedRequest:
    """Merge a resolved authenticate block into a prepared request, per key, the credential's values winning.

    ``headers`` replace same-named headers, ``qs`` replaces same-named query parameters, ``body`` updates a
    JSON object body (or a form body), ``auth`` becomes HTTP Basic; values are sent as JavaScript strings.
    """
    import requests.auth

    for key, value in (block.get("headers") or {}).items():
        request.headers[key] = _wire(value)
    qs = block.get("qs") or {}
    if qs and request.url:
        parts = urlsplit(request.url)
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in qs]
        query = urlencode(kept + [(k, _wire(v)) for k, v in qs.items()])
        request.url = urlunsplit(parts._replace(query=query))
    body = block.get("body") or {}
    if body:
        _merge_body(request, body)
    auth = block.get("auth")
    if auth:
        basic = requests.auth.HTTPBasicAuth(_wire(auth.get("username", "")), _wire(auth.get("password", "")))
        prepared: requests.PreparedRequest = basic(request)
        return prepared
    return request


def _merge_body(request: requests.PreparedRequest, body: Mapping[str, Any]) -> None:
    content_type = request.headers.get("Content-Type", "")
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    if raw and "application/x-www-form-urlencoded" in content_type:
        form = [(k, v) for k, v in parse_qsl(str(raw), keep_blank_values=True) if k not in body]
        request.prepare_body(data=form + [(k, _wire(v)) for k, v in body.items()], files=None)
        return
    try:
        current = json.loads(raw) if raw else {}
    except ValueError:
        return  # a non-JSON body (a file, text) cannot carry fields; n8n would not merge into it either
    if isinstance(current, dict):
        current.update(body)
        request.prepare_body(data=None, files=None, json=current)


def _wire(value: Any) -> str:
    return value if isinstance(value, str) else js_string(value)
