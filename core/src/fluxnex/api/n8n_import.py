"""Import the output of ``n8n export:credentials`` (``--decrypted`` or encrypted) into a tenant's connections.

Every entry is decrypted first (``fluxnex.n8n.importer``): one entry that the n8n key cannot decrypt stops the
import before anything is written. Then every entry is checked (type, name, data) before the first is stored
encrypted under FluxNex's keys; the report lists what was imported and what was skipped, and why. A re-run
skips entries already imported (same name, type and data), so it never duplicates.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from fluxnex.api.connection_info import parse_tenant
from fluxnex.contract.errors import ConnectionExists, FluxnexError, UnknownCredentialType, ValidationError
from fluxnex.lifecycle.tokens import with_token_expiry
from fluxnex.n8n.importer import KEY_ENV, ImportItem, ImportReport, Outcome, decrypt_entries, read_export, usable_data
from fluxnex.n8n.validation import check_connection_name, validate

if TYPE_CHECKING:
    from fluxnex.api.manager import CredentialManager

__all__ = ["import_export"]


def _comparable(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the expiry FluxNex derives on write (it depends on the time of the import)."""
    out = dict(data)
    token = out.get("oauthTokenData")
    if isinstance(token, Mapping) and "expires_in" in token:
        out["oauthTokenData"] = {k: v for k, v in token.items() if k != "expires_at"}
    return out


def import_export(manager: CredentialManager, tenant_id: uuid.UUID | str,
                  source: str | os.PathLike[str] | Iterable[Any], *, n8n_key: str | None = None) -> ImportReport:
    """Import an n8n credentials export into ``tenant_id``; raises ``DecryptionError`` before writing anything.

    Every entry is checked (type, name, data, existing connection) before the first is written; the report
    lists each entry that was imported and each that was skipped, with the reason.
    """
    tenant = parse_tenant(tenant_id)
    entries = read_export(source)
    key = n8n_key if n8n_key is not None else os.environ.get(KEY_ENV)
    plain = decrypt_entries(entries, key)
    report = ImportReport()
    planned: list[tuple[ImportItem, dict[str, Any]]] = []
    seen: set[str] = set()
    for entry, data in zip(entries, plain, strict=True):
        item, usable = _plan(manager, tenant, entry, data, seen)
        if item.outcome == "imported":
            planned.append((item, usable))
        else:
            report.skipped.append(item)
    for item, usable in planned:
        try:
            manager.create_connection(tenant, item.type, item.name, usable)
        except ConnectionExists:
            report.skipped.append(attrs.evolve(
                item, outcome="name taken", reason=f"the tenant already has a connection named {item.name!r}"))
            continue
        except FluxnexError as exc:
            report.skipped.append(attrs.evolve(item, outcome="invalid data", reason=str(exc)))
            continue
        report.imported.append(item)
    return report


def _plan(manager: CredentialManager, tenant: uuid.UUID, entry: Mapping[str, Any], data: dict[str, Any],
          seen: set[str]) -> tuple[ImportItem, dict[str, Any]]:
    """What to do with one entry: an "imported" item and the data to store, or the reason to skip it."""
    name, type_name = entry["name"], entry["type"]
    n8n_id = str(entry["id"]) if entry.get("id") is not None else None

    def skip(outcome: Outcome, reason: str) -> tuple[ImportItem, dict[str, Any]]:
        return ImportItem(name, type_name, n8n_id, outcome, reason), {}

    try:
        ct = manager.credential_type(type_name)
    except UnknownCredentialType:
        return skip("unknown type", f"no installed plugin or catalog provides the credential type {type_name!r}")
    except FluxnexError as exc:
        return skip("unknown type", str(exc))
    usable, ignored = usable_data(ct, data)
    try:
        check_connection_name(name)
        clean = validate(ct, usable)
    except ValidationError as exc:
        return skip("invalid data", str(exc))
    if name in seen:
        return skip("name taken", f"the export holds more than one credential named {name!r}")
    seen.add(name)
    existing = manager.store.get(tenant, name)
    if existing is not None:
        same = existing.type == ct.name and _comparable(manager.decrypt(existing)) == _comparable(
            with_token_expiry(dict(clean)))
        if same:
            return skip("already imported", "a connection of this name, type and data exists")
        return skip("name taken", f"the tenant already has a connection named {name!r} ({existing.type})")
    note = f"ignored fields the type does not declare: {', '.join(ignored)}" if ignored else ""
    return ImportItem(name, ct.name, n8n_id, "imported", note), usable
