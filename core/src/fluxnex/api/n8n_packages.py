"""Installing n8n community packages: ``npm pack``, the credential classes loaded once with node, stored as JSON.

``install_package("n8n-nodes-evolution-api@1.0.4")`` fetches the package tarball with ``npm pack`` (no install
scripts run), extracts it into a temporary directory, and runs ``_n8n_credentials_loader.cjs`` with node over the
files its ``package.json`` lists under ``n8n.credentials`` (else ``dist/credentials/*.credentials.js``). A class
that ``require``s a module the tarball lacks (``n8n-workflow``, a helper library) gets it installed into the same
temporary directory (``npm install --ignore-scripts``, the version range from the package's own dependencies),
and the load is run again. The result is checked by registering it beside everything already loaded, then
written with ``fluxnex.n8n.packages.write_package``; nothing is written when any step fails. Node and npm are
needed here only: at run time the stored JSON is read like any catalog.

Installing a package runs its credential classes' code with node (their constructors), as n8n itself does when it
loads the package: install only packages you would install into n8n.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from fluxnex.contract.errors import PluginError
from fluxnex.n8n.packages import StoredPackage, packages_dir, read_packages, remove_package, write_package

if TYPE_CHECKING:
    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.contract.schema import CredentialType

__all__ = ["InstallResult", "install_package", "installed_packages", "remove_package"]

_LOADER: Final = Path(__file__).with_name("_n8n_credentials_loader.cjs")
_NAME: Final = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_VERSION: Final = re.compile(r"^[A-Za-z0-9.*^~<>=|+ -]+$")
_MAX_MISSING: Final = 12
NPM_TIMEOUT: Final = 600


@attrs.frozen
class InstallResult:
    """What ``install_package`` stored, and how the registry takes it."""

    package: StoredPackage
    path: Path
    replaced: str | None  # the version that was installed before, if any
    shadowed: list[str]  # n8n catalog types this package's definitions replace
    conflicts: list[str]  # names another plugin or package also registers: unusable until one goes


def installed_packages(directory: Path | None = None) -> list[StoredPackage]:
    """Every installed community package."""
    return read_packages(directory)


def _split(spec: str) -> tuple[str, str | None]:
    at = spec.rfind("@")
    if at > 0:
        return spec[:at], spec[at + 1:]
    return spec, None


def _check_spec(spec: str) -> str:
    """The argument for ``npm pack``: a registry name[@version] or a local directory or tarball."""
    local = Path(spec).expanduser()
    if spec.startswith((".", "/", "~")) or spec.endswith((".tgz", ".tar.gz")):
        if not local.exists():
            raise PluginError(f"n8n package {spec!r}: no such file or directory")
        return str(local.resolve())
    name, version = _split(spec)
    if not _NAME.match(name) or (version is not None and not _VERSION.match(version)):
        raise PluginError(f"{spec!r} is not an npm package name (expected NAME or NAME@VERSION, e.g. "
                          "n8n-nodes-evolution-api@1.0.4)")
    return spec


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PluginError(f"{name} is needed to install n8n community packages (install Node.js, which brings "
                          f"npm); it is not needed to use them once installed")
    return path


def _npm(args: list[str], cwd: Path, what: str) -> str:
    try:
        done = subprocess.run([_tool("npm"), *args], cwd=cwd, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PluginError(f"{what}: npm did not finish within {NPM_TIMEOUT} s") from None
    if done.returncode != 0:
        err = done.stderr
        if "E404" in err or "404 Not Found" in err:
            raise PluginError(f"{what}: not found on npm")
        if "ETARGET" in err or "No matching version" in err:
            raise PluginError(f"{what}: npm has no version matching it")
        lines = [line.removeprefix("npm error ").strip() for line in err.splitlines() if line.strip()]
        detail = next((line for line in lines if not line.startswith(("A complete log", "npm "))), "failed")
        raise PluginError(f"{what}: npm failed ({detail[:200]})")
    return done.stdout


def _extract(tarball: Path, into: Path) -> Path:
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")  # no absolute paths, links out or device files
    root = into / "package"
    if not (root / "package.json").is_file():
        raise PluginError(f"{tarball.name}: not an npm package (no package/package.json)")
    return root


def _credential_files(root: Path, manifest: dict[str, Any]) -> list[Path]:
    listed = (manifest.get("n8n") or {}).get("credentials") if isinstance(manifest.get("n8n"), dict) else None
    if isinstance(listed, list) and listed:
        files = [(root / str(item)).resolve() for item in listed]
        outside = [f for f in files if not f.is_relative_to(root.resolve())]
        if outside:
            raise PluginError(f"package.json lists a credential file outside the package: {outside[0]}")
        return [f for f in files if f.is_file()]
    return sorted((root / "dist" / "credentials").glob("*.credentials.js"))


def _load(root: Path, deps: Path, files: list[Path], ranges: dict[str, str], what: str) -> list[dict[str, Any]]:
    node = _tool("node")
    env = {"PATH": str(Path(node).parent), "NODE_PATH": str(deps / "node_modules"), "NODE_ENV": "production"}
    for _attempt in range(_MAX_MISSING):
        out = deps / "loaded.json"
        try:
            done = subprocess.run([node, str(_LOADER), json.dumps([str(f) for f in files]), str(out)], cwd=root,
                                  capture_output=True, text=True, timeout=120, env=env, check=False)
        except subprocess.TimeoutExpired:
            raise PluginError(f"{what}: loading its credential classes with node took over 120 s") from None
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise PluginError(f"{what}: node could not load its credential classes ({tail[:200]})")
        results: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
        missing = sorted({r["missing"] for r in results if "missing" in r})
        if not missing:
            failed = [r for r in results if "error" in r]
            if failed:
                raise PluginError(f"{what}: {Path(failed[0]['file']).name} failed to load: {failed[0]['error']}")
            return results
        modules = sorted({_package_of(m) for m in missing})
        specs = [f"{m}@{ranges[m]}" if m in ranges else m for m in modules]
        _npm(["install", "--prefix", str(deps), "--no-save", "--ignore-scripts", "--no-audit", "--no-fund",
              "--loglevel=error", *specs], deps, f"{what}: installing {', '.join(specs)} to load its credentials")
    raise PluginError(f"{what}: its credential classes still need modules after {_MAX_MISSING} installs")


def _package_of(module: str) -> str:
    parts = module.split("/")
    return "/".join(parts[:2]) if module.startswith("@") else parts[0]


def fetch_package(spec: str, *, workdir: Path) -> StoredPackage:
    """Fetch and extract ``spec`` under ``workdir`` and load its credential types (nothing is stored)."""
    target = _check_spec(spec)
    _tool("npm")
    _tool("node")
    what = f"n8n package {spec!r}"
    packed = _npm(["pack", target, "--ignore-scripts", "--loglevel=error", "--pack-destination", str(workdir)],
                  workdir, what)
    names = [line.strip() for line in packed.splitlines() if line.strip().endswith(".tgz")]
    if not names:
        raise PluginError(f"{what}: npm pack produced no tarball")
    root = _extract(workdir / names[-1], workdir / "unpacked")
    manifest = json.loads((root / "package.json").read_text(encoding="utf-8"))
    label = f"{manifest.get('name')}@{manifest.get('version')}"
    files = _credential_files(root, manifest)
    if not files:
        raise PluginError(f"n8n package {label} contains no credential types (package.json lists none under "
                          "n8n.credentials and there is no dist/credentials/*.credentials.js)")
    ranges = {**(manifest.get("peerDependencies") or {}), **(manifest.get("dependencies") or {})}
    deps = workdir / "deps"
    deps.mkdir()
    results = _load(root, deps, files, {k: str(v) for k, v in ranges.items()}, f"n8n package {label}")
    loaded = [c for r in results for c in r.get("credentials", [])]
    if not loaded:
        raise PluginError(f"n8n package {label} contains no credential types (its credential files export none)")
    return StoredPackage(
        name=str(manifest["name"]), version=str(manifest.get("version", "?")),
        credentials=[c["definition"] for c in loaded],
        code_authenticate=sorted(c["definition"]["name"] for c in loaded if c["codeAuthenticate"]),
        pre_authentication=sorted(c["definition"]["name"] for c in loaded if c["preAuthentication"]),
        installed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def install_package(spec: str, *, directory: Path | None = None) -> InstallResult:
    """Fetch ``spec`` (``NAME[@VERSION]``, or a local package directory or tarball) and store its credential
    types; raises ``PluginError`` with one line naming what went wrong, storing nothing then."""
    from fluxnex.contract.plugins import get_registry, reset_registry
    from fluxnex.n8n.catalog import CATALOG_DISTRIBUTION

    directory = packages_dir() if directory is None else directory
    with tempfile.TemporaryDirectory(prefix="fluxnex-n8n-") as tmp:
        package = fetch_package(spec, workdir=Path(tmp))
    previous = {p.name: p for p in read_packages(directory)}.get(package.name)
    registry = get_registry()
    incoming = _check_registers(package, registry)
    shadowed: list[str] = []
    conflicts: list[str] = []
    for name, ct in incoming.items():
        if name not in registry or registry.provider(name).distribution == package.name:
            continue
        if registry.definition(name).to_n8n() == ct.to_n8n():
            continue
        (shadowed if registry.provider(name).distribution == CATALOG_DISTRIBUTION else conflicts).append(
            f"{name}: {registry.provider(name).label}")
    path = write_package(package, directory)
    reset_registry()  # this process sees the package from now on
    return InstallResult(package, path, previous.version if previous else None, shadowed, conflicts)


def _check_registers(package: StoredPackage, registry: TypeRegistry) -> dict[str, CredentialType]:
    """The package's types; raises ``PluginError`` when one is invalid or extends a type that is not loaded."""
    from fluxnex.contract.definitions import check_definition
    from fluxnex.contract.schema import CredentialType

    incoming: dict[str, CredentialType] = {}
    for definition in package.credentials:
        try:
            ct = CredentialType.coerce(definition)
        except PluginError as exc:
            raise PluginError(f"{package.name}: {exc}") from None
        incoming[ct.name] = ct

    def lookup(name: str) -> CredentialType | None:
        if name in incoming:
            return incoming[name]
        if name in registry and registry.provider(name).distribution != package.name:
            return registry.definition(name)
        return None

    for ct in incoming.values():
        try:
            check_definition(ct, lookup, distribution=package.name, allow_duplicates=True)
        except PluginError as exc:
            hint = " (n8n's catalog types need FLUXNEX_N8N_CATALOG, see docs/n8n.md)" if "extends" in str(exc) else ""
            raise PluginError(f"{exc}{hint}") from None
    return incoming
