"""n8n community packages (npm ``n8n-nodes-*``) installed as catalogs: stored, read and registered.

``fluxnex n8n install`` (``fluxnex.api.n8n_packages``) extracts a package's credential types once, with node,
and stores them here as catalog JSON: one file per package in ``packages_dir()`` (``FLUXNEX_N8N_PACKAGES``, else
``n8n-packages`` in the data directory). Every process then registers each stored package as a plugin named
after the package (distribution = package name, version = the installed version), without node or npm:

- a name n8n's own catalog (``FLUXNEX_N8N_CATALOG``) also defines: the package's definition is used and the
  catalog's is shadowed (recorded in ``registry.shadowed``), as for an installed plugin;
- a name a plugin or another package registers differently: a conflict, as between two plugins;
- a package that cannot be registered (an ``extends`` parent missing, say an n8n catalog type while
  ``FLUXNEX_N8N_CATALOG`` is unset) becomes one entry in ``registry.failures``; the others load.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import attrs

from fluxnex.contract.errors import PluginError
from fluxnex.n8n._files import read_json

if TYPE_CHECKING:
    from fluxnex.contract.plugins import TypeRegistry

__all__ = ["ENV_PACKAGES", "StoredPackage", "packages_dir", "read_packages", "register_packages",
           "remove_package", "write_package"]

ENV_PACKAGES: Final = "FLUXNEX_N8N_PACKAGES"
_FORMAT: Final = 1


@attrs.frozen
class StoredPackage:
    """One installed community package: its credential types as n8n JSON, and which of them are code."""

    name: str
    version: str
    credentials: list[dict[str, Any]]
    #: types whose ``authenticate`` is a function in the package (stored as ``{}``, as n8n's catalog does)
    code_authenticate: list[str] = attrs.field(factory=list)
    #: types with a ``preAuthentication`` function (a session token fetched with the user's credentials)
    pre_authentication: list[str] = attrs.field(factory=list)
    installed_at: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def type_names(self) -> list[str]:
        return [str(c.get("name")) for c in self.credentials]

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "package": self.name, "version": self.version, "installed_at": self.installed_at,
                "code_authenticate": self.code_authenticate, "pre_authentication": self.pre_authentication,
                "credentials": self.credentials}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> StoredPackage:
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT or not isinstance(raw.get("credentials"), list):
            raise PluginError(f"{where}: not a FluxNex n8n package file (format {_FORMAT})")
        return cls(name=str(raw.get("package")), version=str(raw.get("version")), credentials=raw["credentials"],
                   code_authenticate=list(raw.get("code_authenticate") or []),
                   pre_authentication=list(raw.get("pre_authentication") or []),
                   installed_at=str(raw.get("installed_at") or ""))


def packages_dir() -> Path:
    """Where installed packages are stored: ``FLUXNEX_N8N_PACKAGES``, else ``<data dir>/n8n-packages``.

    The data directory is ``FLUXNEX_HOME``, else the platform's user data directory (as ``fluxnex.storage.config``
    computes it; this layer sits below storage, so it reads the same two settings itself).
    """
    explicit = os.environ.get(ENV_PACKAGES)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("FLUXNEX_HOME")
    if home:
        return Path(home).expanduser() / "n8n-packages"
    import platformdirs

    return Path(platformdirs.user_data_dir("fluxnex")) / "n8n-packages"


def _file(directory: Path, name: str) -> Path:
    return directory / (quote(name, safe="") + ".json")


def read_packages(directory: Path | None = None) -> list[StoredPackage]:
    """Every stored package, by name; an unreadable file raises ``PluginError`` naming it."""
    directory = packages_dir() if directory is None else directory
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        found.append(StoredPackage.from_json(read_json(path, f"n8n package file {path}", PluginError), str(path)))
    return sorted(found, key=lambda p: p.name)


def write_package(package: StoredPackage, directory: Path | None = None) -> Path:
    """Store ``package`` (replacing an installed version) atomically; returns the file written."""
    directory = packages_dir() if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = _file(directory, package.name)
    fd, partial = tempfile.mkstemp(dir=directory, prefix=".install-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(package.to_json(), handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def remove_package(name: str, directory: Path | None = None) -> StoredPackage:
    """Delete the stored package ``name``; raises ``PluginError`` when it is not installed."""
    directory = packages_dir() if directory is None else directory
    path = _file(directory, name)
    if not path.is_file():
        installed = ", ".join(p.name for p in read_packages(directory)) or "none"
        raise PluginError(f"n8n package {name!r} is not installed (installed: {installed})")
    package = StoredPackage.from_json(read_json(path, f"n8n package file {path}", PluginError), str(path))
    path.unlink()
    return package


def register_packages(registry: TypeRegistry, directory: Path | None = None) -> list[str]:
    """Register every stored package in ``registry`` (see the module docstring); returns the names added."""
    from fluxnex.contract.plugins import PluginFailure, PluginInfo
    from fluxnex.n8n.catalog import CATALOG_DISTRIBUTION, Shadowed

    try:
        packages = read_packages(directory)
    except PluginError as exc:
        registry.failures.append(PluginFailure("n8n-packages", str(directory or packages_dir()), str(exc)))
        return []
    added: list[str] = []
    for package in packages:
        info = PluginInfo(package.name, package.name, package.version)
        catalog = registry_label(CATALOG_DISTRIBUTION, registry)
        shadows = [name for name, definition in zip(package.type_names, package.credentials, strict=True)
                   if name in registry and registry.provider(name).distribution == CATALOG_DISTRIBUTION
                   and registry.definition(name).to_n8n() != _n8n(definition)]
        try:
            added.extend(registry.add(package.credentials, info, n8n_catalog=True, replaces=CATALOG_DISTRIBUTION))
        except PluginError as exc:
            hint = " (n8n's catalog types need FLUXNEX_N8N_CATALOG)" if "extends unknown" in str(exc) else ""
            registry.failures.append(PluginFailure(package.name, package.name, f"{exc}{hint}"))
            continue
        registry.shadowed = [*registry.shadowed, *(Shadowed(name, info.label, catalog) for name in shadows)]
        registry.plugins.append(info)
    return added


def _n8n(definition: dict[str, Any]) -> Any:
    from fluxnex.contract.schema import CredentialType

    try:
        return CredentialType.coerce(definition).to_n8n()
    except PluginError:
        return None  # registry.add reports it


def registry_label(distribution: str, registry: TypeRegistry) -> str:
    """The label of the loaded plugin from ``distribution`` (its name if none is loaded)."""
    return next((p.label for p in registry.plugins if p.distribution == distribution), distribution)
