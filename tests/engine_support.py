"""n8n's own code for differential tests, fetched with npm once into a cache outside the repository.

- ``engine_dir()``: n8n-workflow (expressions, ``NodeHelpers``), installed with npm.
- ``core_dist()``: n8n-core's compiled AES-256-CBC cipher, to check that n8n decrypts what FluxNex encrypts.
- ``cli_dist()``: the few compiled modules of n8n's CLI (package ``n8n``) that turn stored credential data into
  what a node sees (``CredentialsHelper.applyDefaultsAndOverwrites``, ``getCredentialsProperties``, the generic
  ``authenticate``), taken from the published tarball of the n8n release that depends on exactly the
  n8n-workflow and n8n-nodes-base versions the suite pins. ``tests/n8n_engine/credentials.cjs`` loads them with
  n8n-workflow real and the CLI's service dependencies (database, DI, licensing) stubbed, so the reference is
  n8n's code rather than a restatement of it.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from fluxnex.testing.n8n_catalog import N8N_WORKFLOW, cache_dir, engine_dir

__all__ = ["N8N_CLI", "N8N_CORE", "N8N_WORKFLOW", "cli_dist", "core_dist", "engine_dir"]

N8N_CLI = "n8n@2.41.3"  # depends on n8n-workflow 2.41.0 and n8n-nodes-base 2.41.2, the versions pinned here
N8N_CORE = "n8n-core@2.41.1"  # the n8n-core of that release line: its Cipher reads n8n's credential ciphertext
_CORE_MEMBERS = ("dist/encryption/aes-256-cbc.js", "package.json")
_CLI_MEMBERS = ("dist/credentials-helper.js", "dist/oauth/dcr-managed-fields.js",
                "dist/credentials/mock-node-types.js", "package.json")


def cli_dist() -> Path:
    """The folder holding n8n's compiled ``credentials-helper.js`` (``npm pack`` the first time)."""
    return _packed(N8N_CLI, _CLI_MEMBERS)


def core_dist() -> Path:
    """The folder holding n8n-core's compiled ``encryption/aes-256-cbc.js`` (``npm pack`` the first time)."""
    return _packed(N8N_CORE, _CORE_MEMBERS)


def _packed(spec: str, members: tuple[str, ...]) -> Path:
    """``members`` of the npm package ``spec`` under the cache; the first member's presence marks it complete."""
    target = cache_dir() / ("pkg-" + spec.replace("@", "-"))
    if (target / members[0]).is_file():
        return target / "dist"
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(f"npm is needed to fetch {spec}")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        out = subprocess.run([npm, "pack", spec, "--silent"], cwd=tmp, check=True, capture_output=True,
                             text=True, timeout=600)
        tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            for name in sorted(members, key=lambda n: n == members[0]):  # the marker last
                member = tar.extractfile(f"package/{name}")
                if member is None:
                    raise FileNotFoundError(f"{name} missing from {spec}")
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                partial = destination.with_name(destination.name + ".part")
                partial.write_bytes(member.read())
                partial.replace(destination)
    return target / "dist"
