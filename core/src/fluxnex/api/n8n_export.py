"""Export a tenant's connections to a file ``n8n import:credentials`` accepts: the way back from FluxNex to n8n.

``export_n8n(manager, tenant)`` decrypts every connection of the tenant and maps its data back with
``fluxnex.n8n.exporter`` (what the importer maps in, backwards); with ``n8n_key`` each entry's data is encrypted
the way n8n's own ``Cipher`` does (AES-256-CBC, OpenSSL ``Salted__``), otherwise it is the ``--decrypted`` form.
Entry ids are the connection ids, so importing a later export again into n8n updates the same credentials
(``import:credentials`` upserts by id) instead of adding copies. ``write_export`` writes the file with mode 0600,
all or nothing (a temporary file renamed into place), and never over an existing file.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from fluxnex.api.connection_info import parse_tenant
from fluxnex.contract.errors import FluxnexError
from fluxnex.n8n.cipher import encrypt_n8n
from fluxnex.n8n.exporter import n8n_data, n8n_entry

if TYPE_CHECKING:
    from fluxnex.api.manager import CredentialManager

__all__ = ["ExportedItem", "export_n8n", "read_n8n_key", "write_export"]


@attrs.frozen
class ExportedItem:
    """One connection (no secrets): its id, name and type; ``skipped`` says why it was left out, if it was."""

    id: str
    name: str
    type: str
    skipped: str = ""

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _stamp(value: Any) -> str:
    text: str = value.isoformat(timespec="milliseconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z")


def export_n8n(manager: CredentialManager, tenant_id: uuid.UUID | str, *, n8n_key: str | None = None,
               skip_unexportable: bool = False) -> tuple[list[dict[str, Any]], list[ExportedItem]]:
    """The n8n entries of every connection of ``tenant_id`` (sorted by name), and what each one was.

    A connection holding a literal that begins with ``=`` (n8n would evaluate it) raises ``FluxnexError`` naming
    every such connection and field, before anything is returned; ``skip_unexportable`` leaves them out instead
    (their items say why).
    """
    tenant = parse_tenant(tenant_id)
    entries: list[dict[str, Any]] = []
    items: list[ExportedItem] = []
    problems: list[str] = []
    for row in sorted(manager.store.list(tenant), key=lambda r: r.name):
        data, literals = n8n_data(manager.decrypt(row))
        if literals:
            reason = f"literal values beginning with '=' in {', '.join(literals)}: n8n would evaluate them"
            problems.append(f"{row.name!r} ({', '.join(literals)})")
            items.append(ExportedItem(str(row.id), row.name, row.type, reason))
            continue
        payload: dict[str, Any] | str = encrypt_n8n(data, n8n_key) if n8n_key is not None else data
        entries.append(n8n_entry(id=str(row.id), name=row.name, type=row.type, data=payload,
                                 created_at=_stamp(row.created_at), updated_at=_stamp(row.updated_at)))
        items.append(ExportedItem(str(row.id), row.name, row.type))
    if problems and not skip_unexportable:
        raise FluxnexError(
            f"cannot export to n8n: {'; '.join(problems)} hold literal values beginning with '=', which n8n "
            "always evaluates as expressions: change them, or leave those connections out with --skip-unexportable")
    return entries, items


def read_n8n_key(value: str) -> str:
    """n8n's encryption key from ``value``: a file (n8n's own ``config`` JSON with ``encryptionKey``, or the key
    alone on its first line), else the key itself."""
    path = Path(value).expanduser()
    if not path.is_file():
        if not value:
            raise FluxnexError("the n8n encryption key is empty")
        return value
    text = path.read_text(encoding="utf-8")
    try:
        config = json.loads(text)
    except ValueError:
        config = None
    if isinstance(config, dict):
        key = config.get("encryptionKey")
        if not isinstance(key, str) or not key:
            raise FluxnexError(f"{path}: a JSON file without an encryptionKey (n8n's config file has one)")
        return key
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key:
        raise FluxnexError(f"{path}: the file is empty (expected n8n's encryption key)")
    return key


def write_export(entries: list[dict[str, Any]], path: Path) -> None:
    """Write ``entries`` to ``path`` (mode 0600); refuses an existing file; nothing is left behind on failure."""
    if path.exists():
        raise FluxnexError(f"{path} exists: choose another --output, or remove it first")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FluxnexError(f"{directory} is not a directory")
    fd, partial = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.link(partial, path)  # fails instead of replacing a file that appeared meanwhile
    finally:
        Path(partial).unlink(missing_ok=True)
