"""``check_credential_type``: the contract checks a plugin runs on each of its own credential types."""

from __future__ import annotations

import json
import re
from typing import Any

from fluxnex.contract.definitions import check_definition
from fluxnex.contract.plugins import TypeRegistry, get_registry
from fluxnex.contract.schema import CredentialType

__all__ = ["ContractError", "check_credential_type"]

#: Property names that hold secrets and must therefore be flagged (``type="password"`` or typeOptions.password).
SECRET_NAME = re.compile(r"(password|secret|token|apikey|api_key|privatekey|private_key|hapikey)$", re.IGNORECASE)
_TYPE_HOOKS = ("refresh_token", "authenticate", "test_connection", "token_expires_at", "revoke_token",
               "check_token_response")
_PROBE = CredentialType(name="fluxnexContractProbe", display_name="FluxNex contract probe")


class ContractError(AssertionError):
    """A credential type or its plugin breaks the plugin contract."""


class _NoHttp:
    """Stands in for ``http``/``request``: a hook that answers for a foreign type must not touch it."""

    def __getattr__(self, name: str) -> Any:
        raise ContractError(f"a hook used {name!r} for a credential type it does not own")


def check_credential_type(credential_type: Any, registry: TypeRegistry | None = None) -> list[str]:
    """Check ``credential_type`` (class, instance or n8n JSON) against the contract; returns the checks passed.

    Raises ``ContractError`` naming the type and the broken rule.
    """
    registry = registry or get_registry()
    ct = CredentialType.coerce(credential_type)
    passed: list[str] = []

    def fail(problem: str) -> ContractError:
        return ContractError(f"credential type {ct.name!r}: {problem}")

    if ct.name not in registry:
        raise fail("is not registered (is the plugin's entry point installed and loaded?)")
    check_definition(ct, registry._definitions_lookup, distribution=registry.provider(ct.name).distribution)
    passed.append("definition valid")

    exported = ct.to_n8n()
    again = CredentialType.from_n8n(json.loads(json.dumps(exported)))
    if again.to_n8n() != exported:
        raise fail("does not survive an n8n JSON round trip")
    passed.append("n8n JSON round trip")

    resolved = registry.get(ct.name)
    for parent in ct.extends or []:
        if parent not in registry:
            raise fail(f"extends {parent!r}, which is not registered")
        registry.get(parent)
    missing = {p.name for p in ct.properties} - {p.name for p in resolved.properties}
    if missing:
        raise fail(f"lost its own properties when resolving extends: {sorted(missing)}")
    passed.append("extends resolves")

    for prop in ct.properties:
        if prop.type != "hidden" and SECRET_NAME.search(prop.name) and not prop.is_secret:
            raise fail(f"property {prop.name!r} looks secret but is not flagged (type='password')")
    passed.append("secrets flagged")

    sample = {p.name: p.default_value for p in resolved.properties}
    sample.update({p: "contract-sample" for p in resolved.secret_fields if p != "oauthTokenData"})
    if resolved.test is not None:
        request = resolved.resolve_test_request(resolved.effective_data(sample))
        url = (request or {}).get("url") or ""
        base = (request or {}).get("baseURL") or ""
        if not isinstance(url, str) or not isinstance(base, str) or not (url or base):
            raise fail("test.request does not resolve to a URL")
        passed.append("test request resolvable")

    _check_hooks_answer_only_for_own(registry, ct, fail)
    passed.append("hooks answer only for their own types")
    return passed


def _check_hooks_answer_only_for_own(registry: TypeRegistry, ct: CredentialType, fail: Any) -> None:
    """Call the owning plugin's type-specific hooks with foreign types: every answer must be None."""
    owner = registry.plugin_manager.get_plugin(registry.provider(ct.name).name)
    if owner is None:
        return
    foreign = [_PROBE] + [registry.get(n) for n in ("oAuth2Api", "httpHeaderAuth") if n in registry]
    for hook_name in _TYPE_HOOKS:
        caller = getattr(registry.hook, hook_name, None)
        if caller is None:
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is not owner:
                continue
            for other in foreign:
                if other.name == ct.name or registry.provider(ct.name).name == _provider_name(registry, other):
                    continue
                values = {"credential_type": other, "data": {}, "http": _NoHttp(), "request": _NoHttp()}
                answer = impl.function(**{k: values[k] for k in impl.argnames if k in values})
                if answer is not None:
                    raise fail(f"its plugin's {hook_name} hook answered for foreign type {other.name!r}")


def _provider_name(registry: TypeRegistry, ct: CredentialType) -> str | None:
    return registry.provider(ct.name).name if ct.name in registry else None
