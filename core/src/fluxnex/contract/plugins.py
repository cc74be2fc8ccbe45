"""Plugin discovery and the registry of credential types.

Discovery is lazy (nothing loads until :func:`get_registry` is first called) and isolated: each entry point
of the group ``fluxnex`` is loaded and asked for its types on its own, so one broken plugin is recorded in
``registry.failures`` and the others load. ``FLUXNEX_LOAD_PLUGINS=a,b`` limits loading to those entry point
or distribution names (empty: built-ins only); ``FLUXNEX_TRACE_PLUGINS=1`` prints hook calls to stderr, secrets masked.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from fluxnex.contract import builtins, hookspecs
from fluxnex.contract.definitions import check_definition, resolve_properties
from fluxnex.contract.errors import FluxnexError, PluginError, UnknownCredentialType
from fluxnex.contract.schema import CredentialType

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginFailure",
    "PluginInfo",
    "TypeRegistry",
    "get_registry",
    "reset_registry",
]

ENTRY_POINT_GROUP = "fluxnex"
CORE_DISTRIBUTION = "fluxnex-core"


@attrs.frozen
class PluginInfo:
    """A loaded plugin: its entry point name, the distribution that ships it, and that distribution's version."""

    name: str
    distribution: str
    version: str

    @property
    def label(self) -> str:
        """``distribution version`` as people read it."""
        return f"{self.distribution} {self.version}"


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded, with the reason (one line)."""

    name: str
    distribution: str
    error: str


@attrs.define
class _Entry:
    definition: CredentialType
    provider: PluginInfo


class TypeRegistry:
    """The credential types of every loaded plugin, resolved through ``extends`` as n8n resolves them."""

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self.hook = plugin_manager.hook
        self.plugin_manager = plugin_manager
        self.plugins: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.conflicts: dict[str, list[PluginInfo]] = {}
        #: types that several distributions register with identical definitions: every provider, the one
        #: whose definition is used first (the others still answer hooks, in pluggy's order).
        self.shared: dict[str, list[PluginInfo]] = {}
        #: n8n catalog types left out because an installed plugin provides that name (``fluxnex.n8n``).
        self.shadowed: list[Any] = []
        self._entries: dict[str, _Entry] = {}
        self._resolved: dict[str, CredentialType] = {}
        self._lock = threading.RLock()

    # -- queries ------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def definition(self, name: str) -> CredentialType:
        """The type as its plugin registered it (``extends`` not applied)."""
        return self._entry(name).definition

    def provider(self, name: str) -> PluginInfo:
        """The plugin that registered ``name`` (the first, when several registered identical definitions)."""
        return self._entry(name).provider

    def providers(self, name: str) -> list[PluginInfo]:
        """Every plugin that registered ``name``: one, or all of those that registered identical definitions."""
        return list(self.shared.get(name) or [self._entry(name).provider])

    def get(self, name: str) -> CredentialType:
        """The resolved type: properties merged through ``extends``; raises ``UnknownCredentialType``."""
        resolved = self._resolved.get(name)
        if resolved is None:
            with self._lock:
                entry = self._entry(name)
                resolved = attrs.evolve(
                    entry.definition, properties=resolve_properties(name, self._definitions_lookup)
                )
                self._resolved[name] = resolved
        return resolved

    def ancestors(self, name: str) -> list[str]:
        """Every type ``name`` extends, directly or not, nearest first."""
        seen: list[str] = []
        pending = list(self.definition(name).extends or [])
        while pending:
            parent = pending.pop(0)
            if parent not in seen and parent in self._entries:
                seen.append(parent)
                pending.extend(self._entries[parent].definition.extends or [])
        return seen

    def is_a(self, name: str, base: str) -> bool:
        """Whether ``name`` is ``base`` or extends it."""
        return name == base or base in self.ancestors(name)

    # -- registration -------------------------------------------------------------------------------

    def add(
        self, definitions: Iterable[Any], provider: PluginInfo, *, n8n_catalog: bool = False,
        replaces: str | None = None,
    ) -> list[str]:
        """Register the types of one plugin, all or none; returns their names; raises ``PluginError``.

        ``n8n_catalog`` relaxes the duplicate-property check for n8n's own catalog (see ``check_definition``).
        ``replaces`` names a distribution whose types these replace instead of conflicting with them (an n8n
        community package over n8n's catalog; the caller records the shadowing).
        """
        incoming: dict[str, CredentialType] = {}
        for value in definitions:
            try:
                ct = CredentialType.coerce(value)
            except PluginError as exc:
                raise PluginError(f"{provider.distribution}: {exc}") from None
            if ct.name in incoming:
                raise PluginError(f"{provider.distribution}: credential type {ct.name!r} is registered twice")
            incoming[ct.name] = ct
        with self._lock:
            lookup = {**{n: e.definition for n, e in self._entries.items()}, **incoming}
            for ct in incoming.values():
                check_definition(
                    ct, lookup.get, distribution=provider.distribution, allow_duplicates=n8n_catalog
                )
            added = []
            for name, ct in incoming.items():
                existing = self._entries.get(name)
                if name in self.conflicts:
                    self.conflicts[name].append(provider)
                elif existing is not None and replaces is not None and existing.provider.distribution == replaces:
                    self._entries[name] = _Entry(ct, provider)
                    added.append(name)
                elif existing is not None and existing.provider.distribution != provider.distribution:
                    if existing.definition.to_n8n() == ct.to_n8n():
                        # the same definition twice is no conflict, but a second distribution is reported
                        # (n8n's catalog beside core is expected and not listed)
                        if not n8n_catalog:
                            self.shared.setdefault(name, [existing.provider]).append(provider)
                        continue
                    self.conflicts[name] = [existing.provider, provider]
                    del self._entries[name]
                else:
                    self._entries[name] = _Entry(ct, provider)
                    added.append(name)
            self._resolved.clear()
            return added

    # -- internals ----------------------------------------------------------------------------------

    def _definitions_lookup(self, name: str) -> CredentialType | None:
        entry = self._entries.get(name)
        if entry is None and name in self.conflicts:
            return self._entry(name).definition  # raises the PluginError naming both distributions
        return entry.definition if entry is not None else None

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        if name in self.conflicts:
            names = " and ".join(p.label for p in self.conflicts[name])
            raise PluginError(
                f"credential type {name!r} is registered by both {names}: uninstall one, "
                "or choose with FLUXNEX_LOAD_PLUGINS"
            )
        raise UnknownCredentialType(name, self._entries)


# -- discovery --------------------------------------------------------------------------------------

_registry: TypeRegistry | None = None
_registry_lock = threading.Lock()


def get_registry() -> TypeRegistry:
    """The process-wide registry; plugins are discovered on the first call."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = _discover()
    return _registry


def reset_registry() -> None:
    """Forget discovered plugins, so the next :func:`get_registry` discovers again (tests, after pip install)."""
    global _registry
    with _registry_lock:
        _registry = None


def _allowlist() -> set[str] | None:
    raw = os.environ.get("FLUXNEX_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if os.environ.get("FLUXNEX_TRACE_PLUGINS"):
        from fluxnex.contract._trace import install

        install(pm)  # hook, plugins, duration, outcome; secrets masked
    return pm


def _discover() -> TypeRegistry:
    builtin = builtins.load(builtins.BUILTIN_PLUGIN)
    pm = _new_plugin_manager()
    registry = TypeRegistry(pm)
    core_version = _version(CORE_DISTRIBUTION)
    _load_plugin(registry, builtin, PluginInfo("builtin", CORE_DISTRIBUTION, core_version))
    for extra_name, extra_module in builtins.BUILTIN_EXTRAS:  # hooks only: listed as part of "builtin"
        pm.register(builtins.load(extra_module), name=extra_name)
    allow = _allowlist()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        if allow is not None and ep.name not in allow and dist not in allow:
            continue
        info = PluginInfo(ep.name, dist, ep.dist.version if ep.dist is not None else "?")
        if pm.has_plugin(ep.name):
            registry.failures.append(
                PluginFailure(ep.name, dist, f"a plugin named {ep.name!r} is already loaded")
            )
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not stop the others
            registry.failures.append(PluginFailure(ep.name, dist, f"import failed: {_one_line(exc)}"))
            continue
        _load_plugin(registry, module, info)
    _load_extra_sources(registry)
    return registry


def _load_plugin(registry: TypeRegistry, module: object, info: PluginInfo) -> None:
    """Register one plugin object and its types, or record why it failed; never raises."""
    pm = registry.plugin_manager
    try:
        pm.register(module, name=info.name)
    except Exception as exc:
        registry.failures.append(
            PluginFailure(info.name, info.distribution, f"invalid plugin: {_one_line(exc)}")
        )
        return
    collected: list[Any] = []
    try:
        for impl in pm.hook.register_credential_types.get_hookimpls():
            if impl.plugin is module:
                _trace(f"{info.name}.register_credential_types(register)")
                impl.function(**_only(impl.argnames, {"register": collected.append}))
        registry.add(collected, info)
    except Exception as exc:
        pm.unregister(module)
        message = (
            str(exc)
            if isinstance(exc, FluxnexError)
            else f"register_credential_types failed: {_one_line(exc)}"
        )
        registry.failures.append(PluginFailure(info.name, info.distribution, message))
        return
    registry.plugins.append(info)


def _load_extra_sources(registry: TypeRegistry) -> None:
    """Types from n8n's catalog when ``FLUXNEX_N8N_CATALOG`` names one, then installed n8n community packages."""
    path = os.environ.get("FLUXNEX_N8N_CATALOG")
    if path:
        try:
            builtins.load(builtins.CATALOG_SOURCE)(registry, path)
        except Exception as exc:
            registry.failures.append(PluginFailure("n8n-catalog", path, _one_line(exc)))
    try:
        builtins.load(builtins.PACKAGES_SOURCE)(registry)  # records each broken package itself
    except Exception as exc:
        registry.failures.append(PluginFailure("n8n-packages", "n8n community packages", _one_line(exc)))


def _only(argnames: tuple[str, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in argnames}


def _trace(message: str) -> None:
    if os.environ.get("FLUXNEX_TRACE_PLUGINS"):
        sys.stderr.write(f"fluxnex plugins: {message}\n")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, FluxnexError) else text


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"
